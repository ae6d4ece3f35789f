"""The workloads table: each workload, its peer in the same run, ratio and cost per unit."""

from __future__ import annotations

from typing import Any

HEADERS = ["workload", "unit", "continuum", "peer", "ratio", "commits", "rollbacks", "msgs"]


def _num(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _speed(result: dict[str, Any] | None) -> str:
    """The headline figure of one side of a workload."""
    if result is None:
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
    text = "—" if workload["ratio"] is None else f"{workload['ratio']:.2f}x"
    if workload.get("ratio_on_workers") is not None:
        text += f" (workers {workload['ratio_on_workers']:.2f}x)"
    return text


def _row(name: str, w: dict[str, Any]) -> list[str]:
    ours = w["continuum"]
    return [
        name, f"{w['size']} {w['unit']}", _speed(ours), _speed(w["peer"]), _ratio(w),
        _num(ours["commits_per_unit"]), _num(ours["rollbacks_per_unit"]),
        _num(ours["msgs_per_unit"]),
    ]  # fmt: skip


def render_workloads(workloads: dict[str, Any], environment: dict[str, Any]) -> str:
    rows = [_row(name, w) for name, w in workloads.items()]
    widths = [max(len(r[i]) for r in [HEADERS, *rows]) for i in range(len(HEADERS))]
    lines = [
        f"\nworkloads, -c 2 prefork, Redis broker, Postgres {environment.get('postgres')};"
        " ratio: continuum over peer (timers, fan-out: peer time over ours)",
        "  ".join(h.ljust(w) for h, w in zip(HEADERS, widths, strict=True)),
        "  ".join("-" * w for w in widths),
    ]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.append("commits, rollbacks, msgs: continuum's, per unit, over the counted window.")
    for name, w in workloads.items():
        peer = w["peer"]
        dbos = w["dbos"].get("skipped", "")
        line = f"  {name}: peer = {w['peer_name']}"
        if peer is not None:
            line += (
                f" ({_num(peer['commits_per_unit'])} commits,"
                f" {_num(peer['msgs_per_unit'])} msgs per {w['unit']})"
            )
        lines.append(line + (f"; dbos: {dbos}" if dbos else ""))
    return "\n".join(lines)
