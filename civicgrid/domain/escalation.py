"""The escalation rules of SPEC §5 as pure functions, each naming its reason."""

from collections.abc import Sequence
from datetime import timedelta

from civicgrid.domain.case import SlaStage
from civicgrid.schemas.enums import AlertKind, Level, Severity

POINT_RADIUS_M = 250.0  # SPEC §5: a point is the same code, or a place within 250 m
# A report joins the open case of its category in its fixed cell of this size (geo.cell_of);
# not smaller than the point radius, so a point's reports lie in the 3 x 3 cells around it.
JOIN_CELL_M = POINT_RADIUS_M
JOIN_RADIUS_M = POINT_RADIUS_M  # the name tools/prediction_eval/score.py imports
REPEAT_WINDOW = timedelta(days=7)
REPEAT_THRESHOLD = 3
# No running count in it: which report is the point's third depends on arrival order.
REPEAT_REASON = f"repeat point: {REPEAT_THRESHOLD} or more reports in {REPEAT_WINDOW.days} days"
RETURNS_TO_ESCALATE = 2
REWORKS_TO_ESCALATE = 2
WARNING_AT = 0.8
BREACH_AT = 1.0
NETWORK_FLOOR = Level.STREET  # the street coordinates the departments
SEVERAL_OWNERS = "several owners"

_RUNGS = list(Level)
_URGENCY = (Severity.P1, Severity.P2, Severity.P3)


def most_urgent(a: Severity, b: Severity) -> Severity:
    """A case's severity is its most urgent report's, whichever report opened it."""
    return min(a, b, key=_URGENCY.index)


def network_reasons(
    severity: Severity, departments: Sequence[str], classified: Sequence[str]
) -> tuple[str, ...]:
    """Why a report is not a small matter; empty means the grid settles it. A case is a
    network matter for the union of its reports' reasons, whichever report opened it.

    The classifier's reasons win; the derived ones cover a caller that gave none."""
    if classified:
        return tuple(dict.fromkeys(classified))
    derived: list[str] = []
    if severity is not Severity.P3:
        derived.append(f"severity {severity.value}")
    if len(departments) > 1:
        derived.append(SEVERAL_OWNERS)
    return tuple(derived)


def from_category(reason: str) -> bool:
    """Whether a case's network reason follows from what its category says (its severity,
    its owners, the classifier's own reasons) rather than from what happened to the case
    (a repeat point, a cluster, an SLA breach, returns, reworks): a reclassification
    replaces the first kind and keeps the second."""
    return reason.startswith(("severity ", "network:")) or reason == SEVERAL_OWNERS


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
