"""Which calls workflow code must not make, and what to use instead.

One table, by dotted name, shared by the runtime guard (``guard.py``, which
resolves each name to the object it calls) and the static check (``lint.py``,
which matches names in the source). A call in it returns something else on every
replay (the clock, randomness), waits in real time, or does I/O, so a replay
could decide differently from the run it replays.
"""

from __future__ import annotations

import random as _random

NOW = "workflow.now()"
RANDOM = "workflow.random()"
UUID = "workflow.uuid4()"
SLEEP = "workflow.sleep()"
SECRET = "workflow.side_effect()"
IO = "an activity"

_CLOCK = ["time", "time_ns", "monotonic", "monotonic_ns", "perf_counter", "perf_counter_ns"]
_RANDOM = sorted(
    name
    for name in _random.__all__
    if name not in ("Random", "SystemRandom") and callable(getattr(_random, name, None))
)
_SECRETS = ["token_bytes", "token_hex", "token_urlsafe", "choice", "randbelow", "randbits"]
_PATH_IO = ["open", "read_text", "read_bytes", "write_text", "write_bytes"]

BANNED: dict[str, str] = {
    **{f"time.{name}": NOW for name in _CLOCK},
    "time.sleep": SLEEP,
    "datetime.datetime.now": NOW,
    "datetime.datetime.utcnow": NOW,
    "datetime.datetime.today": NOW,
    "datetime.date.today": NOW,
    **{f"random.{name}": RANDOM for name in _RANDOM},
    "uuid.uuid1": UUID,
    "uuid.uuid4": UUID,
    "os.urandom": RANDOM,
    **{f"secrets.{name}": SECRET for name in _SECRETS},
    "builtins.open": IO,
    "io.open": IO,
    "os.open": IO,
    **{f"pathlib.Path.{name}": IO for name in _PATH_IO},
    "socket.socket": IO,
    "socket.create_connection": IO,
    "socket.getaddrinfo": IO,
}
"""Dotted name -> the deterministic replacement to suggest."""


def replacement(name: str) -> str:
    return BANNED[name]
