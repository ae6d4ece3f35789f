"""``continuum-celery`` and ``celery -A app continuum``: operate runs from a shell.

One module per command group; each formats what the ``Continuum`` API returns.
A new group (say ``runs list``) is a module that adds its commands to the group
it belongs to and is listed in ``commands.add_all``.
"""

from .root import main

__all__ = ["main"]
