"""Early-warning alerts (SPEC §2 ``civic.alerts.v1``, §7): observed against expected."""

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, ClassVar

from civicgrid.schemas.enums import AlertKind


@dataclass(frozen=True, slots=True)
class Alert:
    """``grid_ids`` names the alerting grid first; ``window_*`` bound the counted events."""

    KIND: ClassVar[AlertKind]

    grid_ids: tuple[str, ...]
    category: str
    observed: float
    expected: float
    score: float
    window_start: datetime
    window_end: datetime

    @property
    def kind(self) -> AlertKind:
        return self.KIND

    @property
    def grid_id(self) -> str:
        return self.grid_ids[0]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form: enums as values, datetimes as RFC 3339, tuples as lists."""
        out: dict[str, Any] = {"kind": self.kind.value}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out


@dataclass(frozen=True, slots=True)
class RateAnomaly(Alert):
    """One grid x category window over its baseline threshold; ``score`` is a z-score."""

    KIND: ClassVar[AlertKind] = AlertKind.RATE_ANOMALY

    threshold: float


@dataclass(frozen=True, slots=True)
class ClusterAlert(Alert):
    """Neighbouring grids over threshold on one category in one window.

    ``observed``/``expected`` are summed over the grids; ``score`` is the highest
    member z-score.
    """

    KIND: ClassVar[AlertKind] = AlertKind.CLUSTER


@dataclass(frozen=True, slots=True)
class RepeatPointAlert(Alert):
    """The same code, or one category within the radius, reported repeatedly.

    ``observed`` is the number of reports, ``expected`` the alerting minimum,
    ``event_ids`` the reports behind it (the case book escalates on them);
    ``rule`` says which test matched: ``"code"`` or ``"location"``.
    """

    KIND: ClassVar[AlertKind] = AlertKind.REPEAT_POINT

    code: str | None
    rule: str
    event_ids: tuple[str, ...]
