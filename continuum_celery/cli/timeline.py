"""A run's journal as a timeline: when each event came, and how long each wait took.

A resolution (an activity's outcome, a timer firing, a child ending) is matched to
the decision that opened it by command id, so its duration is the time between
the two: scheduling to outcome, retries and queueing included.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..engine.events import DECISION_TYPES, Event
from .output import dumps


@dataclass(frozen=True)
class Entry:
    event: Event
    offset: float | None
    """Seconds since the run started."""
    duration: float | None
    """Seconds since the decision this event resolves."""

    def as_json(self) -> dict[str, Any]:
        e = self.event
        return {"seq": e.seq, "type": e.type, "command_id": e.command_id, "data": e.data,
                "created_at": e.created_at, "offset": self.offset,
                "duration": self.duration}  # fmt: skip


def entries(events: list[Event], start: datetime | None) -> list[Entry]:
    """Each event with its offset from ``start`` and, for a resolution, its duration."""
    opened: dict[str, datetime] = {}
    found = []
    for event in events:
        found.append(Entry(event, _seconds(start, event.created_at), _duration(opened, event)))
        if event.type in DECISION_TYPES and event.command_id and event.created_at:
            opened.setdefault(event.command_id, event.created_at)
    return found


def _duration(opened: dict[str, datetime], event: Event) -> float | None:
    if event.type in DECISION_TYPES or not event.command_id:
        return None
    return _seconds(opened.get(event.command_id), event.created_at)


def _seconds(since: datetime | None, until: datetime | None) -> float | None:
    return None if since is None or until is None else (until - since).total_seconds()


def seconds(value: float | None) -> str:
    """``+1.204s``-style, readable from milliseconds to hours."""
    if value is None:
        return ""
    if abs(value) < 60:
        return f"{value:.3f}s"
    minutes, rest = divmod(value, 60)
    return f"{int(minutes)}m{rest:04.1f}s" if minutes < 60 else f"{value / 3600:.1f}h"


STYLES = {"failed": "red", "terminated": "red", "cancel": "yellow", "forked": "magenta",
          "completed": "green", "fired": "green", "received": "green"}  # fmt: skip
"""A colour per outcome, by a word in the event's type; anything else is cyan."""


def _style(event_type: str) -> str:
    return next((s for word, s in STYLES.items() if word in event_type), "cyan")


def render(found: list[Entry], fmt: str) -> None:
    if fmt == "json":
        click.echo(dumps([entry.as_json() for entry in found]))
    elif fmt == "jsonl":
        for entry in found:
            click.echo(dumps(entry.as_json(), indent=None))
    else:
        _table(found)


def _row(entry: Entry) -> list[str]:
    e = entry.event
    data = dumps(e.data, indent=None) if e.data else ""
    offset = "+" + seconds(entry.offset) if entry.offset is not None else ""
    return [str(e.seq), offset, e.type, e.command_id or "", seconds(entry.duration), data]


HEADERS = ["seq", "at", "event", "command", "took", "data"]


def _table(found: list[Entry]) -> None:
    """Colours on a terminal; plain aligned columns when piped, for grep and diff."""
    console = Console()
    if not console.is_terminal:
        _plain([HEADERS, *(_row(entry) for entry in found)])
        return
    table = Table(*HEADERS, box=None, header_style="bold")
    for entry in found:
        cells = [Text(cell) for cell in _row(entry)]  # data is shown, never read as markup
        table.add_row(*cells, style=_style(entry.event.type))
    console.print(table)


def _plain(rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADERS) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        click.echo("  ".join([*cells, row[-1]]).rstrip())
