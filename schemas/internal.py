"""The one internal topic, `civic.internal.by-grid.v1`: events routed to the grid that owns them.

Only civicgrid writes it, after the edge parser, so its values are trusted and already
masked: descriptions carry no personal numbers and actor ids are keyed hashes. A record, keyed
by its grid, holds that grid's envelopes from one intake batch in order (`GridBatch`).
"""

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from civicgrid.schemas.enums import ActorKind, DeadLetterKind, Level
from civicgrid.schemas.inbound import CaseUpdate, Patrol, Report, Scan

EnvelopeKind = Literal[
    "scan",
    "report",
    "patrol",
    "case_update",
    "dead_letter",
    "tick",
    "cluster",
    "watermark",
    "finding",
]


class Origin(BaseModel):
    """Where the envelope's inbound record was read: every offset is accounted for."""

    model_config = ConfigDict(frozen=True)

    topic: str
    partition: int
    offset: int
    published_at: datetime | None = None


class ActorScope(BaseModel):
    """A case update's actor as the roster (civic.actors.v1) listed it when the update came
    in: its kind and scope, without its id (the update carries that, hashed if personal)."""

    model_config = ConfigDict(frozen=True)

    kind: ActorKind
    rung: Level | None = None
    grids: tuple[str, ...] = ()
    community: str | None = None
    street: str | None = None
    district: str | None = None
    departments: tuple[str, ...] = ()


class Enrichment(BaseModel):
    model_config = ConfigDict(frozen=True)

    placed_by: str  # code / grid_id / lat_lon / case_id
    unknown_code: bool = False
    element_type: str | None = None
    kind: str | None = None
    owner: str | None = None
    community: str | None = None
    street: str | None = None
    district: str | None = None
    authorised: bool | None = None  # for grid-worker scans: is the code in their grids
    # for case updates: the roster's entry for the actor, None when it is not listed
    actor: ActorScope | None = None


class DeadLetterBody(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: DeadLetterKind
    message: str
    key: str | None = None  # base64
    value: str | None = None  # base64, personal numbers masked
    event_id: str | None = None


class HouseholdFinding(BaseModel):
    """A household cross-check finding raised or withdrawn (issue 21), from the household
    stage: the grid stage opens (or joins) its L0103 case, or withdraws it. `finding_id` is
    the case's de-duplication key (a keyed hash, never a person's); `generation` orders the
    finding's changes, so a replayed or older one is applied once."""

    model_config = ConfigDict(frozen=True)

    finding_id: str
    kind: str
    raised: bool
    generation: int
    rule: str
    place_code: str | None = None
    decisive_on: date | None = None


class GridEnvelope(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: EnvelopeKind
    grid_id: str
    origin: Origin | None = None
    scan: Scan | None = None
    report: Report | None = None
    patrol: Patrol | None = None
    case_update: CaseUpdate | None = None
    enrichment: Enrichment | None = None
    dead_letter: DeadLetterBody | None = None
    now: datetime | None = None  # ticks: the clock the deadlines are checked against
    # clusters (from the leader's early warning): every grid of the cluster, and its category
    grid_ids: tuple[str, ...] = ()
    category: str | None = None
    # watermarks (from the leader, one to every partition): the partition it was sent to, and
    # the latest event time the stream had counted when it was sent
    partition: int | None = None
    watermark: datetime | None = None
    finding: HouseholdFinding | None = None  # findings: with `now`, the household stage's clock


class GridBatch(BaseModel):
    """One record of the internal topic: a grid's envelopes in arrival order.

    One record per grid and intake batch instead of one per event: Faust's receive path costs
    tens of microseconds per record, and the grid stage paid it for every event a second time
    after the intake (docs/performance.md). Records written before batching hold a bare
    `GridEnvelope`; the grid stage still reads those.
    """

    model_config = ConfigDict(frozen=True)

    envelopes: tuple[GridEnvelope, ...]
