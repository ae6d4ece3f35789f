"""The fast path's report: the comparison table and the notes under it.

The notes say how each number was counted and flag windows whose numbers are not
valid (a Postgres restart, other processes' CPU, another client of the same Redis).
"""

from __future__ import annotations

from typing import Any

from bench.table import fmt, head, row, widths

SYSTEMS = (
    ("celery_chain", "plain celery chain"),
    ("continuum", "continuum"),
    ("continuum_guard_off", "continuum, guard off"),
    ("dbos", "dbos"),
)


def _ratio(value: float | None, base: float | None) -> str:
    if value is None or base is None:
        return "—"
    if base == 0:
        return "n/a (base 0)" if value else "1.00x"
    return f"{value / base:.2f}x"


def metrics_of(result: dict[str, Any]) -> dict[str, float | None]:
    return {
        "steps/s": result["steps_per_s"],
        "p50 ms/step": result["latency"]["p50_ms"],
        "p99 ms/step": result["latency"]["p99_ms"],
        "commits/step": result["commits_per_step"],
        "msgs/step": result["msgs_per_step"],
    }


def ratios_vs_celery_chain(systems: dict[str, Any]) -> dict[str, Any]:
    """Each measured system's metrics over the plain chain's (None where undefined)."""
    base = metrics_of(systems["celery_chain"]).values()
    return {
        key: {
            k: (v / b if v is not None and b else None)
            for (k, v), b in zip(metrics_of(systems[key]).items(), base, strict=True)
        }
        for key in ("continuum", "continuum_guard_off", "dbos")
        if key in systems and "skipped" not in systems[key]
    }


def render_table(results: dict[str, Any]) -> str:
    headers = ["system", "steps/s", "p50 ms/step", "p99 ms/step", "commits/step", "msgs/step"]
    rows = _table_rows(results["systems"])
    column_widths = widths(headers, rows)
    lines = head(headers, column_widths)
    for cells in rows:
        if len(cells[1]) > column_widths[1]:  # a "skipped" note spans the row
            lines.append(f"{cells[0].ljust(column_widths[0])}  {cells[1]}")
        else:
            lines.append(row(cells, column_widths))
    return "\n".join(lines)


def _table_rows(systems: dict[str, Any]) -> list[list[str]]:
    rows: list[list[str]] = []
    base = systems.get("celery_chain")
    base_metrics = metrics_of(base) if base and "skipped" not in base else None
    for key, label in SYSTEMS:
        result = systems.get(key)
        if result is None:
            continue
        if "skipped" in result:
            rows.append([label, f"skipped: {result['skipped']}", "", "", "", ""])
            continue
        m = metrics_of(result)
        rows.append([label] + [fmt(v, 1 if k == "steps/s" else 2) for k, v in m.items()])
        if base_metrics is not None and key != "celery_chain":
            rows.append(
                ["  vs celery chain"] + [_ratio(m[k], base_metrics[k]) for k in base_metrics]
            )
    return rows


def print_notes(results: dict[str, Any]) -> None:
    systems = {k: v for k, v in results["systems"].items() if "skipped" not in v}
    print(
        "\nsteps/s: loaded throughput, all W submitted at once. p50/p99 ms/step: separate"
        " sequential single-workflow runs.\ncommits/step: pg_stat_database.xact_commit delta"
        " / steps. msgs/step: broker messages published / steps (counted by every bench"
        "\nprocess via after_task_publish; cross-checked against Redis INFO commandstats LPUSH)."
    )
    print("\nbreakdown (same windows):")
    for key, label in SYSTEMS:
        if key in systems:
            print(_breakdown(label, systems[key]))
    print("  CPU ms/step, workers / bench process / postgres / redis / other processes:")
    for key, label in SYSTEMS:
        if key in systems:
            _print_cpu(label, systems[key]["cpu_ms_per_step"])
    _print_guard_cost(systems)
    for key, label in SYSTEMS:
        if key in systems:
            _print_warnings(label, systems[key])


def _breakdown(label: str, r: dict[str, Any]) -> str:
    line = (
        f"  {label}: {r['commits_per_step']:.2f} commits/step ="
        f" {r['write_xacts_per_step']:.2f} writing + "
        f"{max(0.0, r['commits_per_step'] - r['write_xacts_per_step']):.2f} read-only;"
        f" {r['sql_statements_per_step']:.2f} SQL statements/step;"
        f" idle background {r['idle_commits_per_s']:.1f} commits/s"
    )
    if r["published"] is not None:
        line += (
            f"; {r['published']} messages published, {r['idle_msgs_per_s']:.1f}/s idle;"
            f" Redis LPUSH delta {r['lpush_calls']}"
        )
    if "expected_msgs" in r:
        line += f" (expected {r['expected_msgs']})"
    return line


def _print_cpu(label: str, cpu: dict[str, float]) -> None:
    print(
        f"    {label}: {cpu['workers']:.2f} / {cpu['bench_process']:.2f} /"
        f" {cpu['postgres']:.2f} / {cpu['redis']:.2f} / {cpu['other_processes']:.2f}"
    )
    if cpu["other_processes"] > 0.2 * cpu["machine"]:
        print(
            f"    note: other processes used {cpu['other_processes']:.2f} of"
            f" {cpu['machine']:.2f} CPU ms/step on this machine: numbers are noisy"
        )


def _print_guard_cost(systems: dict[str, Any]) -> None:
    """``--guard-off``: the determinism guard's cost, from two continuum windows."""
    on, off = systems.get("continuum"), systems.get("continuum_guard_off")
    if on is None or off is None:
        return
    p50_on, p50_off = on["latency"]["p50_ms"], off["latency"]["p50_ms"]
    cpu_on, cpu_off = on["cpu_ms_per_step"]["workers"], off["cpu_ms_per_step"]["workers"]
    print(
        f"  determinism guard: steps/s on/off {on['steps_per_s'] / off['steps_per_s']:.3f}x;"
        f" p50 ms/step {p50_on:.3f} on, {p50_off:.3f} off ({p50_on - p50_off:+.3f});"
        f" worker CPU ms/step {cpu_on:.2f} on, {cpu_off:.2f} off"
    )


def _print_warnings(label: str, r: dict[str, Any]) -> None:
    if "disturbed" in r:
        print(f"  WARNING: {label}: {r['disturbed']}; its numbers are not valid")
    if r["published"] is None:
        return
    if abs(r["lpush_calls"] - r["published"]) > max(2, 0.01 * r["published"]):
        print(
            f"  note: {label}: Redis LPUSH delta {r['lpush_calls']} != {r['published']}"
            " messages this run published: another client pushed to the same Redis"
            " server during the window (msgs/step uses the exact count)."
        )
