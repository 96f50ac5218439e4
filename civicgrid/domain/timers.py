"""SLA timers: when a case's next one is due, and the ticks that fire them in the grid stage."""

from collections.abc import Iterable
from datetime import datetime

from civicgrid.domain.case import Case, SlaStage
from civicgrid.domain.escalation import WARNING_AT
from civicgrid.domain.gridwork import Message, by_grid_messages
from civicgrid.domain.lifecycle import SLA_RUNNING
from civicgrid.domain.timelimit import LimitUnit, TimeLimit
from civicgrid.domain.workcalendar import WorkingCalendar
from civicgrid.schemas.internal import GridEnvelope


def next_timer_at(case: Case, calendar: WorkingCalendar) -> datetime | None:
    """The moment the warning (80 %) or the breach (100 %) of the current rung falls due."""
    if case.state not in SLA_RUNNING or case.sla_stage is SlaStage.BREACHED:
        return None
    if case.sla_stage is SlaStage.WARNED:
        return case.deadline
    start = case.sla_started_at
    if case.limit.unit is LimitUnit.HOURS:
        return start + (case.deadline - start) * WARNING_AT
    allowed = calendar.working_time(start, case.deadline)
    hours = allowed.total_seconds() * WARNING_AT / 3600
    return calendar.deadline(start, TimeLimit(hours, LimitUnit.WORKING_HOURS))


def tick_messages(grid_ids: Iterable[str], now: datetime) -> list[Message]:
    return by_grid_messages(
        GridEnvelope(kind="tick", grid_id=grid_id, now=now) for grid_id in sorted(set(grid_ids))
    )
