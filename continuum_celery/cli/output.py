"""Printing the same way everywhere: JSON with dates as ISO text, nothing lost, and
tables that are coloured on a terminal and plain when piped."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from datetime import datetime
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

F = TypeVar("F", bound=Callable[..., Any])


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    return str(value)


def dumps(value: Any, indent: int | None = 2) -> str:
    return json.dumps(value, default=_default, indent=indent)


def echo_json(value: Any) -> None:
    click.echo(dumps(value))


def cell(value: Any) -> str:
    """One table cell: times as ISO text, JSON for structures, blank for nothing."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, dict | list):
        return dumps(value, indent=None) if value else ""
    return str(value).splitlines()[0] if str(value) else ""


def echo_table(headers: list[str], rows: list[list[str]]) -> None:
    """A rich table on a terminal; plain aligned columns when piped, for grep and awk."""
    console = Console()
    if console.is_terminal:
        table = Table(*headers, box=None, header_style="bold")
        for row in rows:
            table.add_row(*(Text(value) for value in row))  # shown, never read as markup
        console.print(table)
        return
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, *rows]:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def echo_records(records: list[dict[str, Any]], fmt: str) -> None:
    """``json`` (one array) or ``jsonl`` (one object a line, for streaming tools)."""
    if fmt == "json":
        click.echo(dumps(records))
    else:
        for record in records:
            click.echo(dumps(record, indent=None))


def format_option(*choices: str) -> Callable[[F], F]:
    """``--format``, the first choice the default: the same spelling on every reader."""
    return click.option(
        "--format", "fmt", type=click.Choice(list(choices)), default=choices[0],
        show_default=True, help="table is coloured on a terminal, plain when piped.",
    )  # fmt: skip
