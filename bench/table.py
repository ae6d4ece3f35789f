"""Plain-text tables for the reports every mode prints.

Kept apart from any one mode so the fast path, growth and parked reports line up the
same way.
"""

from __future__ import annotations


def fmt(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def row(cells: list[str], widths: list[int]) -> str:
    """The first cell left-aligned (a label), the others right-aligned (numbers)."""
    pairs = enumerate(zip(cells, widths, strict=True))
    return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in pairs)


def widths(headers: list[str], rows: list[list[str]]) -> list[int]:
    return [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]


def head(headers: list[str], column_widths: list[int]) -> list[str]:
    """The header line and the dashes under it."""
    return [row(headers, column_widths), "  ".join("-" * w for w in column_widths)]


def table_lines(headers: list[str], rows: list[list[str]]) -> list[str]:
    column_widths = widths(headers, rows)
    return head(headers, column_widths) + [row(r, column_widths) for r in rows]
