"""Building blocks shared by every topic model: base classes, bounded field types, versions.

Inbound models are the edge of the system, so they are strict: unknown fields are rejected,
values are not coerced (a string "1" is not an int), strings and lists are bounded and
timestamps must carry an offset. Outbound models are produced by our own code and only
need to be typed.
"""

from datetime import UTC, datetime
from typing import Annotated, ClassVar
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from civicgrid.schemas.limits import EARLIEST, LATEST

SUPPORTED_SCHEMA_VERSION = 1
MAX_PHOTOS = 20

# One error type name, matched by the edge parser to tell "newer producer" from "bad input".
UNSUPPORTED_VERSION_ERROR = "unsupported_version"

# Identifiers become Kafka keys, database keys and metric labels: no whitespace, bounded.
# NUL is refused everywhere because PostgreSQL text cannot store it.
Identifier = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^\s\x00]+$")
]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00]+$")]
FreeText = Annotated[str, StringConstraints(max_length=4000, pattern=r"^[^\x00]*$")]
# [0-9], not \d: the validator's regex engine would accept full-width digits for \d.
CategoryCode = Annotated[str, StringConstraints(pattern=r"^([0-9]{5}|L[0-9]{4})$")]
# \S alone would take NUL, which failed the sink's whole batch.
PhotoUrl = Annotated[str, StringConstraints(max_length=2048, pattern=r"^https?://[^\s\x00]+$")]
Latitude = Annotated[float, Field(ge=-90, le=90)]
Longitude = Annotated[float, Field(ge=-180, le=180)]


def _holdable(moment: datetime) -> datetime:
    """A time the store and the deadline arithmetic can hold (schemas/limits.py)."""
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:  # year 1 east of UTC, year 9999 west of it
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        raise PydanticCustomError(
            "time_out_of_range",
            "time must be from {earliest} up to {latest} (UTC)",
            {"earliest": EARLIEST.date().isoformat(), "latest": LATEST.date().isoformat()},
        )
    return moment


Timestamp = Annotated[
    AwareDatetime,
    AfterValidator(_holdable),
    Field(
        description="RFC 3339 with an offset, from 1970-01-01 up to 2100-01-01 UTC, and within "
        "the deployment's window around the receive time (by default 30 days before to 1 hour "
        "after; docs/contract.md)"
    ),
]


def _check_version(version: int) -> int:
    if version > SUPPORTED_SCHEMA_VERSION:
        raise PydanticCustomError(
            UNSUPPORTED_VERSION_ERROR,
            "schema_version {version} is newer than the supported major version {supported}; "
            "upgrade civicgrid before sending it",
            {"version": version, "supported": SUPPORTED_SCHEMA_VERSION},
        )
    return version


SchemaVersion = Annotated[
    int,
    Field(ge=1),
    AfterValidator(_check_version),
    WithJsonSchema({"type": "integer", "const": SUPPORTED_SCHEMA_VERSION}),
]


class InboundModel(BaseModel):
    """A value published by an upstream app; validated once, at the edge."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    TOPIC: ClassVar[str]


class EventModel(InboundModel):
    """An event (not state): carries the de-duplication id, its time and its version."""

    CE_TYPE: ClassVar[str]
    KEY_FIELD: ClassVar[str]

    event_id: UUID
    occurred_at: Timestamp
    schema_version: SchemaVersion

    def expected_keys(self) -> dict[str, str]:
        """Field name -> value the Kafka key may equal (SPEC §2 "key"); empty: any key will do."""
        return {self.KEY_FIELD: str(getattr(self, self.KEY_FIELD))}


class OutboundModel(BaseModel):
    """A value civicgrid publishes; built by our own code, so typed but not coerced further."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    TOPIC: ClassVar[str]
