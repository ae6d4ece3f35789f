"""The parked bench's summary ratios and its printed report.

The ratios compare the last checkpoint with the first: what doubling or multiplying
the parked runs did to memory and upkeep.
"""

from __future__ import annotations

from typing import Any

from bench.table import fmt, table_lines

HEADERS = [
    "checkpoint",
    "waiting",
    "worker RSS MB",
    "PSS MB",
    "upkeep p50 ms as found",
    "after ANALYZE",
    "p90 ms",
    "SQL/tick",
    "round trips/tick",
    "beat upkeep p50 ms",
    "idle commits/s",
    "idle worker CPU ms/s",
]


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def summarize(out: dict[str, Any]) -> dict[str, Any]:
    stages = out["parking"]
    runs = sum(s["runs"] for s in stages)
    elapsed = sum(s["elapsed_s"] for s in stages)
    parked = [c for c in out["checkpoints"] if c["kind"] == "parked"]
    first, last = parked[0], parked[-1]
    base = out["checkpoints"][0]
    return {
        "parking_runs_per_s": runs / elapsed,
        "memory_rss_mb": {c["label"]: c["memory"]["rss_mb"] for c in out["checkpoints"]},
        "memory_rss_ratio_n_vs_first": _ratio(last["memory"]["rss_mb"], first["memory"]["rss_mb"]),
        "memory_rss_ratio_n_vs_warm_up": _ratio(last["memory"]["rss_mb"], base["memory"]["rss_mb"]),
        "memory_pss_ratio_n_vs_first": _ratio(last["memory"]["pss_mb"], first["memory"]["pss_mb"]),
        "upkeep_p50_ms": {c["label"]: c["upkeep"]["p50_ms"] for c in out["checkpoints"]},
        "upkeep_p50_ratio_n_vs_first": _ratio(last["upkeep"]["p50_ms"], first["upkeep"]["p50_ms"]),
        "upkeep_as_found_p50_ms": {
            c["label"]: c["upkeep_as_found"]["p50_ms"] for c in out["checkpoints"]
        },
        "upkeep_as_found_p50_ratio_n_vs_first": _ratio(
            last["upkeep_as_found"]["p50_ms"], first["upkeep_as_found"]["p50_ms"]
        ),
        "signal_runs_per_s": out["signal"]["runs_per_s"],
    }


def render_parked(parked: dict[str, Any]) -> str:
    lines = table_lines(HEADERS, [_checkpoint_row(c) for c in parked["checkpoints"]])
    lines += ["", *_summary_lines(parked), *_warnings(parked)]
    return "\n".join(lines)


def _checkpoint_row(c: dict[str, Any]) -> list[str]:
    up, bg, mem = c["upkeep"], c["background"], c["memory"]
    return [
        c["label"],
        f"{c['waiting']:,}",
        fmt(mem["rss_mb"], 1),
        fmt(mem["pss_mb"], 1),
        fmt(c["upkeep_as_found"]["p50_ms"]),
        fmt(up["p50_ms"]),
        fmt(up["p90_ms"]),
        fmt(up["sql_statements_per_tick"], 1),
        fmt(up["round_trips_per_tick"], 1),
        fmt(bg["beat_upkeep_p50_ms"]),
        fmt(bg["commits_per_s"], 1),
        fmt(bg["worker_cpu_ms_per_s"], 1),
    ]


def _summary_lines(parked: dict[str, Any]) -> list[str]:
    s, sig = parked["summary"], parked["signal"]
    stages = ", ".join(f"{st['runs']:,} at {st['runs_per_s']:.0f}/s" for st in parked["parking"])
    last = parked["parking"][-1]
    return [
        f"parking: {s['parking_runs_per_s']:.0f} runs/s ({stages}); last stage"
        f" {last['msgs_per_run']:.2f} msgs, {last['commits_per_run']:.2f} commits,"
        f" {last['worker_cpu_ms_per_run']:.2f} worker CPU ms per run",
        f"worker memory: RSS at {parked['n']:,} parked / at the first checkpoint:"
        f" {fmt(s['memory_rss_ratio_n_vs_first'], 3)}x"
        f" (PSS {fmt(s['memory_pss_ratio_n_vs_first'], 3)}x);"
        f" / after warm-up: {fmt(s['memory_rss_ratio_n_vs_warm_up'], 3)}x",
        f"upkeep tick: p50 at {parked['n']:,} parked / at the first checkpoint:"
        f" {fmt(s['upkeep_as_found_p50_ratio_n_vs_first'])}x as found,"
        f" {fmt(s['upkeep_p50_ratio_n_vs_first'])}x after ANALYZE"
        f" (autovacuum = {parked.get('autovacuum', '?')})",
        f"signal to completion: {sig['runs']:,} runs in {sig['elapsed_s']:.1f} s ="
        f" {sig['runs_per_s']:.0f} runs/s (signals sent at {sig['signals_per_s']:.0f}/s;"
        f" per run {sig['msgs_per_run']:.2f} msgs, {sig['commits_per_run']:.2f} commits,"
        f" {sig['worker_cpu_ms_per_run']:.2f} worker CPU ms; signal_received -> completed"
        f" p50 {sig['signal_to_completion_p50_ms']:.0f} ms, p99"
        f" {sig['signal_to_completion_p99_ms']:.0f} ms)",
    ]


def _warnings(parked: dict[str, Any]) -> list[str]:
    lines = []
    for c in parked["checkpoints"]:
        if "disturbed" in c["background"]:
            lines.append(f"WARNING: {c['label']}: {c['background']['disturbed']}")
    for st in [*parked["parking"], parked["signal"]]:
        if "disturbed" in st:
            lines.append(f"WARNING: {st['disturbed']}; throughput numbers are not valid")
    return lines
