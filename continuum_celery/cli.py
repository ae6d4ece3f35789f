"""``continuum-celery``: schema migration and run inspection from the shell."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from .errors import ContinuumError
from .journal.db import Database
from .journal.migrate import migrate
from .journal.store import RunStore
from .runids import check_run_id


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="continuum-celery")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("CONTINUUM_DATABASE_URL"),
        help="postgresql:// URL (default: $CONTINUUM_DATABASE_URL)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="create or update the schema (idempotent)")
    show = sub.add_parser("show", help="print a run as JSON")
    show.add_argument("run_id")
    history = sub.add_parser("history", help="print a run's journal, one event per line")
    history.add_argument("run_id")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not args.database_url:
        print("error: pass --database-url or set CONTINUUM_DATABASE_URL", file=sys.stderr)
        return 2
    db = Database(args.database_url, pool_size=1)
    try:
        return _dispatch(args, db)
    except (ContinuumError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        db.dispose()


def _dispatch(args: argparse.Namespace, db: Database) -> int:
    if args.command == "migrate":
        applied = migrate(db)
        print(f"applied {applied}" if applied else "schema is up to date")
        return 0
    runs = RunStore(db)
    run_id = check_run_id(args.run_id)
    if args.command == "show":
        run = runs.get_run(run_id)
        print(json.dumps(run.__dict__, default=str, indent=2))
        return 0
    for event in runs.history(runs.get_run(run_id).run_id):
        data = json.dumps(event.data, default=str)
        print(f"{event.seq:>5}  {event.type:<20} {event.command_id or '-':<32} {data}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
