"""The ops bench's results as text: timings per query, plans, the retention drain."""

from __future__ import annotations

from typing import Any


def _timing(name: str, page: dict[str, Any]) -> str:
    return (f"  {name}: {page['rows']} rows, p50 {page['p50_ms']:.2f} ms,"
            f" p99 {page['p99_ms']:.2f} ms, max {page['max_ms']:.2f} ms;"
            f" in Postgres {page['server_ms']:.2f} ms")  # fmt: skip


def render_listing(entry: dict[str, Any]) -> list[str]:
    lines = [f"list_runs({entry['query']!r}, limit=50), load average {entry['load_average']:.1f}"]
    for key in ("page1", "page2"):
        if key in entry:
            lines += [_timing(key, entry[key]), *(f"    {line}" for line in entry[key]["plan"])]
    return lines


def render_counts(entry: dict[str, Any]) -> str:
    groups = ",".join(entry["group_by"]) or "-"
    return (f"count_runs({entry['query']!r}, group_by={groups}): p50 {entry['p50_ms']:.1f} ms,"
            f" max {entry['max_ms']:.1f} ms  {entry['counts']}")  # fmt: skip


def render_retention(r: dict[str, Any]) -> list[str]:
    lines = [f"retention {r['retention_s'] / 86400:g} days, batch {r['batch']}:"
             f" {r['expired_before']:,} runs expired"]  # fmt: skip
    if not r["ticks"]:
        return lines
    first, last = r["first_20"], r["last_20"]
    return [*lines,
            f"  {r['ticks']} ticks deleted {r['runs_deleted']:,} runs in {r['elapsed_s']} s:"
            f" {r['runs_deleted_per_s']:,} runs/s",
            f"  tick p50 {r['tick_p50_ms']} ms, p99 {r['tick_p99_ms']} ms,"
            f" max {r['tick_max_ms']} ms;"
            f" first 20 p50 {first['p50_ms']} ms, last 20 p50 {last['p50_ms']} ms",
            f"  tick p50 by tenth of the drain: {r['tick_ms_by_tenth']}",
            f"  rows deleted {r['rows_deleted']}, left {r['rows_left']}"]  # fmt: skip


def render(results: dict[str, Any]) -> str:
    seed = results["seed"]
    lines = [f"{results['runs']:,} runs seeded in {seed['total_s']} s: {seed}"]
    for entry in results["list_runs"]:
        lines += render_listing(entry)
    lines += [render_counts(entry) for entry in results["count_runs"]]
    lines += render_retention(results["retention"])
    return "\n".join(lines)
