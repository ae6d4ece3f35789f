"""The workloads table: each workload, its peer in the same run, ratio and cost per unit."""

from __future__ import annotations

from typing import Any

HEADERS = [
    "workload", "unit", "continuum", "peer", "ratio", "dbos", "vs dbos", "commits", "rollbacks",
    "msgs",
]  # fmt: skip


def _num(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _speed(result: dict[str, Any] | None) -> str:
    """The headline figure of one side of a workload."""
    if result is None or "units" not in result:  # no peer, or the DBOS peer skipped
        return "—"
    if "lateness" in result:
        late = result["lateness"]
        return f"late p50 {_num(late['p50_ms'], 1)} / p99 {_num(late['p99_ms'], 1)} ms"
    text = f"{_num(result['per_s'], 0)}/s"
    if "on_workers_s" in result:
        text += f" ({_num(result['end_to_end_s'])} s; workers {_num(result['on_workers_s'])} s)"
    if "latency" in result:
        lat = result["latency"]
        text += (
            f"; at {lat['paced_per_s']:g}/s p50 {_num(lat['p50_ms'], 1)}"
            f" / p99 {_num(lat['p99_ms'], 1)} ms"
        )
    return text


def _ratio(workload: dict[str, Any]) -> str:
    """A workload's ratio to its peer, or the DBOS entry's to DBOS."""
    text = "—" if workload["ratio"] is None else f"{workload['ratio']:.2f}x"
    if workload.get("ratio_on_workers") is not None:
        text += f" (workers {workload['ratio_on_workers']:.2f}x)"
    return text


def _row(name: str, w: dict[str, Any]) -> list[str]:
    ours, dbos = w["continuum"], w["dbos"]
    return [
        name, f"{w['size']} {w['unit']}", _speed(ours), _speed(w["peer"]), _ratio(w),
        _speed(dbos), _ratio(dbos) if "ratio" in dbos else "—",
        _num(ours["commits_per_unit"]), _num(ours["rollbacks_per_unit"]),
        _num(ours["msgs_per_unit"]),
    ]  # fmt: skip


def render_workloads(workloads: dict[str, Any], environment: dict[str, Any]) -> str:
    rows = [_row(name, w) for name, w in workloads.items()]
    widths = [max(len(r[i]) for r in [HEADERS, *rows]) for i in range(len(HEADERS))]
    lines = [
        f"\nworkloads, -c 2 prefork, Redis broker, Postgres {environment.get('postgres')};"
        " ratio, vs dbos: continuum over peer / DBOS (timers, fan-out: their time over ours)",
        "  ".join(h.ljust(w) for h, w in zip(HEADERS, widths, strict=True)),
        "  ".join("-" * w for w in widths),
    ]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.append("commits, rollbacks, msgs: continuum's, per unit, over the counted window.")
    for name, w in workloads.items():
        peer = w["peer"]
        line = f"  {name}: peer = {w['peer_name']}"
        if peer is not None:
            line += (
                f" ({_num(peer['commits_per_unit'])} commits,"
                f" {_num(peer['msgs_per_unit'])} msgs per {w['unit']})"
            )
        lines.append(f"{line}; {_dbos_note(w['dbos'], w['unit'])}")
    return "\n".join(lines + _disturbed(workloads))


def _disturbed(workloads: dict[str, Any]) -> list[str]:
    """A window a Postgres restart fell into measures the restart: say so under the table."""
    return [
        f"WARNING: {name}, {side}: {result['disturbed']}"
        for name, w in workloads.items()
        for side in ("continuum", "peer", "dbos")
        if (result := w.get(side)) and result.get("disturbed")
    ]


def _dbos_note(dbos: dict[str, Any], unit: str) -> str:
    """DBOS has no broker: its cost is commits, raw and net of its pollers' idle rate."""
    if "units" not in dbos:
        return f"dbos: {dbos.get('skipped') or dbos.get('error')}"
    return (
        f"dbos: {_num(dbos['commits_per_unit'])} commits"
        f" ({_num(dbos['commits_per_unit_net_of_idle'])} net of idle),"
        f" {_num(dbos['rollbacks_per_unit'])} rollbacks per {unit}"
    )
