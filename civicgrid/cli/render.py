"""How the operator commands print: plain tables, times in the city's zone (named once above
each table), durations, and what a case's SLA timers say. Pure: no I/O."""

from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo


def zone_header(zone: ZoneInfo, at: datetime) -> str:
    """`times in Asia/Shanghai (UTC+08:00)`: the offset as of `at` (it may change in summer)."""
    offset = at.astimezone(zone).strftime("%z")
    return f"times in {zone.key} (UTC{offset[:3]}:{offset[3:]})"


def local(value: datetime, zone: ZoneInfo) -> str:
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def text(value: object, zone: ZoneInfo) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return local(value, zone)
    return str(value)


def table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], zone: ZoneInfo, now: datetime
) -> str:
    """Left-aligned columns as wide as their widest cell; a table showing times has the line
    naming their zone above it."""
    cells = [list(headers), *([text(v, zone) for v in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    ]
    if any(isinstance(value, datetime) for row in rows for value in row):
        lines.insert(0, zone_header(zone, now))
    return "\n".join(lines)


def duration(span: timedelta) -> str:
    """`3h07m`, or `2d03h` past a day: how late, how long ago."""
    minutes = int(span.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    if hours >= 24:
        return f"{hours // 24}d{hours % 24:02d}h"
    return f"{hours}h{minutes:02d}m"


def late_by(deadline: datetime | None, now: datetime) -> str:
    if deadline is None or deadline >= now:
        return "-"
    return duration(now - deadline)


_FIRED = {
    "none": "no timer fired yet",
    "warned": "80 % warning fired",
    "breached": "breach fired (100 %)",
}


def sla_status(
    sla_stage: str,
    deadline: datetime | None,
    next_timer_at: datetime | None,
    now: datetime,
    zone: ZoneInfo,
    grace: timedelta,
) -> str:
    """The SLA timers of a case as stored: fired so far, and the next one. A timer due longer
    ago than `grace` (a running worker's leader fires due timers every SLA check) has not
    fired because no worker is running: say so, and how to fire it."""
    fired = _FIRED.get(sla_stage, sla_stage)
    if next_timer_at is None:
        return fired
    which = "breach" if next_timer_at == deadline else "80 % warning"
    if next_timer_at > now - grace:
        return f"{fired}; the {which} timer is due at {local(next_timer_at, zone)}"
    return (
        f"{fired}; OVERDUE: the {which} timer was due at {local(next_timer_at, zone)} "
        f"({duration(now - next_timer_at)} ago) and has not fired: no worker is running "
        "(start one with `civicgrid run`, or fire it now with `civicgrid sla tick`)"
    )
