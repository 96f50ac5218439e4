"""The escalation rules of SPEC §5 as pure functions, each naming its reason."""

from collections.abc import Sequence
from datetime import datetime, timedelta

from civicgrid.domain.case import SlaStage
from schemas.enums import AlertKind, Level, Severity

JOIN_RADIUS_M = 250.0
REPEAT_WINDOW = timedelta(days=7)
REPEAT_THRESHOLD = 3
RETURNS_TO_ESCALATE = 2
REWORKS_TO_ESCALATE = 2
WARNING_AT = 0.8
BREACH_AT = 1.0
NETWORK_FLOOR = Level.STREET  # the street coordinates the departments

_RUNGS = list(Level)


def network_reasons(
    severity: Severity, departments: Sequence[str], classified: Sequence[str]
) -> tuple[str, ...]:
    """Why a new case is not a small matter; empty means the grid settles it.

    The classifier's reasons win; the derived ones cover a caller that gave none."""
    if classified:
        return tuple(dict.fromkeys(classified))
    derived: list[str] = []
    if severity is not Severity.P3:
        derived.append(f"severity {severity.value}")
    if len(departments) > 1:
        derived.append("several owners")
    return tuple(derived)


def repeat_reason(report_times: Sequence[datetime], latest: datetime) -> str | None:
    count = sum(1 for moment in report_times if latest - moment <= REPEAT_WINDOW)
    if count < REPEAT_THRESHOLD:
        return None
    return f"repeat point: {count} reports in {REPEAT_WINDOW.days} days"


def escalation_target(level: Level, network: bool, sla_breach: bool) -> Level | None:
    """The rung after escalating, or None when this trigger cannot raise the case.

    An SLA breach climbs one rung up to the city; the other triggers lift a grid matter
    onto the network at the street rung and leave a network matter where it is."""
    if sla_breach:
        return None if level is Level.CITY else level.next_rung()
    if network:
        return None
    return max(level, NETWORK_FLOOR, key=_RUNGS.index)


def sla_alert(fraction: float, stage: SlaStage) -> AlertKind | None:
    """The timer due at this elapsed fraction that has not yet fired on this rung.

    A late tick past the deadline fires the breach alone: the warning is moot by then."""
    if stage is SlaStage.BREACHED:
        return None
    if fraction >= BREACH_AT:
        return AlertKind.SLA_BREACH
    if fraction >= WARNING_AT and stage is SlaStage.NONE:
        return AlertKind.SLA_WARNING
    return None
