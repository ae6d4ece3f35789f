"""The operator web UI (``pip install continuum-celery[ui]``): runs index, run pages
with a timeline, actions and a JSON API, secure by default.

Imported only on demand: the core package never imports this, so a core install
needs none of FastAPI, Jinja2 or uvicorn.
"""

from .app import create_app
from .settings import UiSettings

__all__ = ["UiSettings", "create_app"]
