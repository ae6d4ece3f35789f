"""``continuum-celery ui``: serve the operator web UI with uvicorn.

The UI is an optional extra, imported only here, when the command runs. Without
credentials it is read-only, and it refuses a host other than loopback: an open
port with no password must not be one a network can reach.
"""

from __future__ import annotations

import ipaddress
import os
from typing import TYPE_CHECKING

import click

from .context import cx, global_options
from .errors import UserError

if TYPE_CHECKING:
    from ..ui import UiSettings

LOOPBACK_NAMES = ("localhost",)
AUTH_HELP = "File with tokens=role:token,... and users=user:pass:role,... lines."
DISABLE_HELP = (
    "Switch an action off: signal, cancel, terminate, fork, retry_activity, bulk, schedules."
)
EXTRA = "the UI needs its extra: pip install 'continuum-celery[ui]'"


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@click.command()
@global_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8070, show_default=True, type=click.IntRange(0, 65535))
@click.option("--prefix", default="", help="URL path to serve under, e.g. /continuum.")
@click.option("--auth", "auth_file", type=click.Path(exists=True, dir_okay=False), help=AUTH_HELP)
@click.option("--flower-url", default=None, help="Flower's URL, to link each attempt's task.")
@click.option("--disable", "disabled", multiple=True, metavar="ACTION", help=DISABLE_HELP)
def ui(host: str, port: int, prefix: str, auth_file: str | None, flower_url: str | None,
       disabled: tuple[str, ...]) -> None:  # fmt: skip
    """Serve the web UI (needs `pip install continuum-celery[ui]`)."""
    try:
        import uvicorn

        from ..ui import create_app
    except ImportError as error:
        raise UserError(f"{EXTRA} ({error})") from None
    settings = _settings(auth_file, flower_url)
    if not settings.configured and not is_loopback(host):
        raise UserError(f"refusing to bind {host} without credentials: set CONTINUUM_UI_TOKENS"
                        " or CONTINUUM_UI_USERS, or pass --auth (or bind 127.0.0.1)")  # fmt: skip
    app = create_app(cx(), prefix=prefix, settings=settings,
                     disabled_actions=disabled or None)  # fmt: skip
    mode = "read-only, no credentials" if not settings.configured else "credentials required"
    click.echo(f"continuum UI on http://{host}:{port}{prefix}/ ({mode})", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", proxy_headers=True)


def _settings(auth_file: str | None, flower_url: str | None) -> UiSettings:
    """From ``--auth`` if given, else the environment; ``--flower-url`` wins."""
    from ..ui import UiSettings

    flower = flower_url or os.environ.get("CONTINUUM_UI_FLOWER_URL") or None
    if auth_file is not None:
        return UiSettings.from_file(auth_file, flower)
    found = UiSettings.from_env()
    return UiSettings(found.tokens, found.users, found.disabled_actions, flower)
