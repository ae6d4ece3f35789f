"""Which delivered attempts hold their claim in the settling transaction, and keeping
a claim, held or committed.

A held claim (``journal/held``) is promoted, committed as an ordinary claim, before
anything needs it committed: the keeper's renewals, a heartbeat from the body, a
failure to settle under the task lock.
"""

from __future__ import annotations

from typing import Any

from ..errors import ClaimLost
from ..journal.held import HeldClaim
from ..journal.records import ClaimedTask
from ..journal.tasks import TaskStore

QUICK_BODY = 0.05
"""An activity whose last body in this process took less than this many seconds is
claimed in its settling transaction. A commit saved matters next to a short body
only; a long one (an unknown one, too) has its claim committed before it runs, so
that a crash mid-body is always counted as an attempt, and the attempt shows as
running from its start."""

PROMOTE_AFTER = 1.0
"""Seconds a delivered attempt's claim stays held in its open transaction before it
is committed, so that a longer attempt shows as running (see ``journal/held``)."""


def keep(tasks: TaskStore, claim: ClaimedTask, held: HeldClaim | None) -> bool:
    """The keeper's renewal: a held claim is promoted (committed) first."""
    if held is not None and not held.promoted:
        return held.promote() is not None
    claim = held.claim if held is not None else claim
    return tasks.renew(claim) is None


def beat(tasks: TaskStore, claim: ClaimedTask, held: HeldClaim | None, details: Any) -> str | None:
    """A heartbeat from the body: it extends a committed claim, so a held one is
    promoted first (if that fails, the renewal says why)."""
    if held is not None:
        claim = held.promote() or held.claim
    return tasks.renew(claim, details, beat=True)


def promote_once(held: HeldClaim) -> bool:
    """The keeper's first look at a held claim commits it; then it stops looking."""
    held.promote()
    return False


def durable(claim: ClaimedTask, held: HeldClaim | None) -> ClaimedTask:
    """The claim, committed: a failure is settled under the task lock."""
    if held is None:
        return claim
    promoted = held.promote()
    if promoted is None:
        raise ClaimLost(f"task {claim.task_id} attempt {claim.attempt}: the claim was lost")
    return promoted
