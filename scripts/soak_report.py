"""The soak's findings, and the report it prints at the end."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Report:
    runs: int = 0
    finished: int = 0
    lost: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)
    body_executions: int = 0
    completions: int = 0
    attempts: dict[str, int] = field(default_factory=dict)
    never_executed: int = 0
    events: int = 0
    chaos: dict[str, int] = field(default_factory=dict)
    deliveries: dict[str, int] = field(default_factory=dict)
    wall_seconds: float = 0.0
    drain_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.gaps or self.failed or self.wrong) and (
            self.never_executed == 0
        )


def print_report(report: Report, seed: int, state: Path) -> None:
    lines = ["", "===== soak report =====", *summary(report, seed, state), *examples(report)]
    lines.append("RESULT: " + ("OK" if report.ok else "FAILED"))
    print("\n".join(lines), flush=True)


def summary(report: Report, seed: int, state: Path) -> list[str]:
    return [
        f"runs submitted       {report.runs}",
        f"runs finished        {report.finished}",
        f"runs lost            {len(report.lost)}",
        f"runs failed          {len(report.failed)}",
        f"runs wrong result    {len(report.wrong)}",
        f"runs duplicated      {len(report.duplicated)} (a command decided or resolved twice)",
        f"runs with seq gaps   {len(report.gaps)}",
        f"journal events       {report.events}",
        f"body executions      {report.body_executions}",
        f"journal completions  {report.completions}",
        f"re-executed bodies   {report.body_executions - report.completions}"
        " (at-least-once: killed mid-body, or timed out)",
        f"completed, never run {report.never_executed}",
        f"attempts by outcome  {json.dumps(report.attempts, sort_keys=True)}",
        f"chaos                {json.dumps(report.chaos, sort_keys=True)}",
        f"worker deliveries    {json.dumps(report.deliveries, sort_keys=True)}",
        f"drain                {report.drain_seconds:.1f}s",
        f"wall time            {report.wall_seconds:.1f}s",
        f"seed                 {seed}",
        f"logs                 {state}",
    ]


def examples(report: Report) -> list[str]:
    """Up to ten of each kind of bad run, to start the investigation from."""
    kinds = (
        ("lost", report.lost),
        ("failed", report.failed),
        ("wrong", report.wrong),
        ("duplicated", report.duplicated),
        ("gaps", report.gaps),
    )
    return [f"  {title}: {item}" for title, items in kinds for item in items[:10]]
