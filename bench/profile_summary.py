"""Summarize ``py-spy record --format raw --idle`` output of continuum pool children.

    python -m bench.run --no-dbos --profile          # writes bench/results/profile-*.txt
    python -m bench.profile_summary bench/results/profile-continuum-*.txt

Only samples inside a Celery task (``trace_task``) are counted, so time a pool child
spends waiting for its next message is left out. Each sample is classified by its
leaf frame: waiting on Postgres (psycopg's socket wait), waiting on Redis (redis-py's
socket read), or Python CPU; and attributed to the innermost continuum operation
it is in (so the replay an eager completion runs counts as replay, not completion).
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

OPERATIONS = (
    "RunStore.acquire",
    "RunStore.commit_decision",
    "RunStore.refresh",
    "TaskStore.claim",
    "TaskStore.complete",
    "TaskStore.fail",
    "HistoryCache.load",
    "continue_eagerly",
    "CeleryPublisher.publish_activity",
    "CeleryPublisher.publish_advance",
    "replay (continuum_celery",
    "_run_body",
    "Sweeper.run_once",
)
KINDS = ("postgres", "redis", "cpu")


def classify(leaf: str) -> str:
    low = leaf.lower()
    if "psycopg" in low and ("wait" in low or "recv" in low):
        return "postgres"
    if "redis" in low and ("read" in low or "recv" in low):
        return "redis"
    return "cpu"


def innermost(frames: list[str]) -> str:
    """The deepest continuum operation on the stack (replay inside complete is replay)."""
    for frame in reversed(frames):
        for op in OPERATIONS:
            if frame.startswith(op) or (op.endswith("(continuum_celery") and op in frame):
                return op
    return "celery task machinery / other"


def summarize(paths: list[Path]) -> str:
    total = 0
    kinds: Counter[str] = Counter()
    ops: Counter[tuple[str, str]] = Counter()
    ping = 0
    for path in paths:
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if "trace_task" not in stack or not count.isdigit():
                continue
            n = int(count)
            total += n
            kind = classify(stack.rsplit(";", 1)[-1])
            kinds[kind] += n
            if "do_ping" in stack:
                ping += n
            op = innermost(stack.split(";"))
            ops[(op.split(" (")[0], kind)] += n
    if not total:
        return "no samples inside tasks"

    def pct(n: int) -> str:
        return f"{100 * n / total:5.1f}%"

    lines = [f"{total} samples inside tasks"]
    lines += [f"  {pct(kinds[k])} {k}" for k in KINDS]
    lines.append(f"  {pct(ping)} in SQLAlchemy pool_pre_ping (SELECT 1 per checkout)")
    lines.append("by operation (postgres / redis / cpu):")
    per_op: Counter[str] = Counter()
    for (op, _kind), n in ops.items():
        per_op[op] += n
    for op, n in per_op.most_common():
        split = " / ".join(pct(ops[(op, k)]).strip() for k in KINDS)
        lines.append(f"  {pct(n)} {op}: {split}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    paths = [Path(p) for p in (argv if argv is not None else sys.argv[1:])]
    if not paths:
        print(__doc__)
        return 2
    print(summarize(paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
