"""``celery -A app continuum …``: the same commands, on the app's own ``Continuum``.

Registered under the ``celery.commands`` entry point; Celery loads the app from
``-A`` and hands it over in ``ctx.obj.app``.
"""

from __future__ import annotations

import click

from .commands import add_all
from .context import Group, Settings


@click.group(cls=Group)
@click.pass_context
def continuum(ctx: click.Context) -> None:
    """Operate continuum_celery runs of this app."""
    ctx.obj = Settings(celery_app=ctx.obj.app)


add_all(continuum)
