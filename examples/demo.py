"""The demo: one order workflow through a real Celery worker, then its timeline.

With no ``CONTINUUM_DATABASE_URL`` / ``CELERY_BROKER_URL`` set, it brings up an
embedded Postgres and an embedded Redis (wheels from the ``demo`` extra) under
``.demo/``, so it needs nothing installed on the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
READY = re.compile(r"@\S+ ready\.")
HIDDEN = {"retry", "task_id", "kwargs", "queue", "priority", "timeout", "activity", "timer_id"}
"""Event fields the timeline leaves out: routing details, and what the command id says."""


@contextlib.contextmanager
def servers(state: Path) -> Iterator[tuple[str, str]]:
    """The configured servers, or embedded ones that live as long as the demo."""
    with contextlib.ExitStack() as stack:
        db_url = os.environ.get("CONTINUUM_DATABASE_URL")
        broker = os.environ.get("CELERY_BROKER_URL")
        if not db_url:
            from examples.embedded import embedded_postgres

            print("starting embedded Postgres ...")
            db_url = stack.enter_context(embedded_postgres(state / "pg"))
        if not broker:
            from examples.embedded import embedded_redis

            print("starting embedded Redis ...")
            broker = stack.enter_context(embedded_redis(Path(tempfile.mkdtemp(prefix="cxr-"))))
        yield db_url, broker


@contextlib.contextmanager
def celery_worker(env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A real ``celery worker -B`` subprocess, stopped when the block ends."""
    argv = [sys.executable, "-m", "celery", "-A", "examples.shop", "worker", "-B",
            "-c", "2", "-l", "info", "--without-mingle", "--without-gossip",
            "-s", str(log_path.with_suffix(".beat"))]  # fmt: skip
    with log_path.open("wb") as log:
        proc = subprocess.Popen(argv, cwd=ROOT, env={**os.environ, **env}, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not READY.search(log_path.read_text(errors="replace")):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("worker failed to start:\n" + log_path.read_text()[-3000:])
            time.sleep(0.1)
        yield proc
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(15)
        proc.kill()


def wait_for_event(shop: ModuleType, run_id: str, event_type: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not any(e.type == event_type for e in shop.cx.history(run_id)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {run_id} never journaled {event_type}")
        time.sleep(0.05)


def print_timeline(shop: ModuleType, run_id: str) -> None:
    run = shop.cx.get_run(run_id)
    history = shop.cx.history(run_id)
    print(f"\nrun {run_id}  workflow={run.workflow}  state={run.state}")
    print(f"{'seq':>4} {'+ms':>7}  {'event':<20} {'command':<40} data")
    for event in history:
        offset = (event.created_at - run.created_at).total_seconds() * 1000
        data = {k: v for k, v in event.data.items() if k not in HIDDEN and v not in (None, {})}
        label = event.command_id or ""
        print(f"{event.seq:>4} {offset:>7.0f}  {event.type:<20} {label:<40} {data}")
    print(f"\nresult: {run.result}")


def serve_ui(shop: ModuleType, run_id: str) -> None:
    """The run in the web UI, while the demo's servers are still up (needs [ui])."""
    import uvicorn

    from continuum_celery.ui import UiSettings, create_app

    print(f"\nweb UI (read-only): http://127.0.0.1:8070/runs/{run_id}  (Ctrl-C to stop)")
    app = create_app(shop.cx, prefix="", settings=UiSettings())
    uvicorn.run(app, host="127.0.0.1", port=8070, log_level="warning")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--state-dir", type=Path, default=ROOT / ".demo")
    parser.add_argument("--ui", action="store_true",
                        help="then serve the web UI (read-only) until Ctrl-C")  # fmt: skip
    args = parser.parse_args()
    args.state_dir.mkdir(parents=True, exist_ok=True)
    with servers(args.state_dir) as (db_url, broker):
        env = {"CONTINUUM_DATABASE_URL": db_url, "CELERY_BROKER_URL": broker}
        os.environ.update(env)
        shop = importlib.import_module("examples.shop")
        shop.cx.migrate()
        log_path = args.state_dir / "worker.log"
        print(f"starting a celery worker (log: {log_path}) ...")
        with celery_worker(env, log_path):
            handle = shop.order_flow.delay("o-1001", 4200, ["book", "lamp"])
            print(f"started run {handle.run_id}; waiting for it to ask for review ...")
            wait_for_event(shop, handle.run_id, "signal_awaited")
            print("sending signal review=approved")
            handle.signal("review", "approved")
            handle.result(timeout=60)
            print_timeline(shop, handle.run_id)
        if args.ui:
            serve_ui(shop, handle.run_id)
        shop.cx.db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
