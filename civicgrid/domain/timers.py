"""When a case's next SLA timer is due, so the leader ticks only the grids that need it."""

from datetime import datetime

from civicgrid.domain.case import Case, SlaStage
from civicgrid.domain.escalation import WARNING_AT
from civicgrid.domain.lifecycle import SLA_RUNNING
from civicgrid.domain.timelimit import LimitUnit, TimeLimit
from civicgrid.domain.workcalendar import WorkingCalendar


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
