"""Schedules, pure: specs to fire times, the DST rule, jitter, overlap and catch-up.

No SQL, no Celery and no clock here: the time is always passed in. The journal
stores schedules and applies plans; upkeep decides when to look.
"""

from __future__ import annotations

from .clock import DstRule, next_ticks, ticks_between, zone
from .overlap import BUFFER_LIMIT, POLICIES, Step, check_policy
from .plan import MAX_TICKS_PER_PASS, Due, Plan, backfill, plan
from .specs import CronSpec, IntervalSpec, Spec, parse_specs
from .timing import DEFAULT_CATCHUP_WINDOW, Timing, seconds

__all__ = [
    "BUFFER_LIMIT",
    "DEFAULT_CATCHUP_WINDOW",
    "MAX_TICKS_PER_PASS",
    "POLICIES",
    "CronSpec",
    "DstRule",
    "Due",
    "IntervalSpec",
    "Plan",
    "Spec",
    "Step",
    "Timing",
    "backfill",
    "check_policy",
    "next_ticks",
    "parse_specs",
    "plan",
    "seconds",
    "ticks_between",
    "zone",
]
