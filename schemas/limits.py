"""The contract's limits on inbound values (docs/contract.md, "Limits").

Field lengths are in the models (and so in the exported JSON Schemas); what a deployment may
tune is here, filled from the settings: the largest value, the accepted `occurred_at` window
around the receive time, and the size of a grid polygon. A record outside them is a dead
letter with its reason, decided at the edge before any internal record is built.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# The largest value a deployment may accept: a dead letter keeps the value, base64 in an
# internal record of the producer's 1 MB request limit (civicgrid/domain/gridwork.py).
VALUE_BYTES_CEILING = 256 * 1024
# Times the system can hold and compute with: PostgreSQL's timestamptz holds far more, but
# deadlines, windows and UTC conversion of year 1 or 9999 overflow Python's datetime, and
# no civic event happened before the epoch or will be reported after 2100.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
# Polygon vertices the schema itself accepts; a deployment's limit is at most this.
VERTICES_CEILING = 10_000


@dataclass(frozen=True, slots=True)
class Limits:
    value_bytes: int = 64 * 1024
    max_age: timedelta = timedelta(days=30)
    """How far before its receive time an event may have occurred (late uploads, backfills)."""
    max_lead: timedelta = timedelta(hours=1)
    """How far after its receive time an event may claim to have occurred (clock skew)."""
    grid_vertices: int = 2_000
    grid_extent_km: float = 50.0
    """The longest side of a grid polygon's bounding box."""
    grid_area_km2: float = 1_000.0

    def __post_init__(self) -> None:
        if not 0 < self.value_bytes <= VALUE_BYTES_CEILING:
            raise ValueError(f"value_bytes must be in 1..{VALUE_BYTES_CEILING}")
        if not 4 <= self.grid_vertices <= VERTICES_CEILING:
            raise ValueError(f"grid_vertices must be in 4..{VERTICES_CEILING}")
        if self.max_age < timedelta() or self.max_lead < timedelta():
            raise ValueError("the occurred_at window cannot be negative")
        if self.grid_extent_km <= 0 or self.grid_area_km2 <= 0:
            raise ValueError("grid polygon limits must be positive")


DEFAULT_LIMITS = Limits()
