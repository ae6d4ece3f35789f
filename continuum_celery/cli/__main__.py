"""``python -m continuum_celery.cli``: the same as the ``continuum-celery`` script."""

from .root import main

raise SystemExit(main())
