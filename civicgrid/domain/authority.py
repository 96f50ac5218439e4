"""Who may act on a case (在授权范围内, SPEC §8 and §10): the actor roster and its rules.

The roster (civic.actors.v1) is followed by every worker like the registry. The intake looks
an update's actor up by its clear id and puts the roster's entry (`ActorScope`) and the case
grid's parent rungs into the envelope, so the grid stage decides from the envelope alone and a
replay decides the same. The rules, in the order they are checked (docs/contract.md):

1. the actor's kind may take the action at all (only operators cancel or reopen, only
   residents evaluate: `lifecycle.permitted`);
2. a resident is not listed: they may evaluate only a case they reported themselves;
3. anyone else must be on the roster with the kind the update claims;
4. the case's grid must lie in the actor's territory: one of its `grids` when it lists grids,
   else within each of the `district` / `street` / `community` names it gives (a city-rung
   operator, or a department with no territory, covers every grid);
5. a department acts only on cases whose departments include one of its own.
"""

from civicgrid.domain.case import Case
from civicgrid.domain.lifecycle import permitted
from civicgrid.domain.privacy import case_link_holder
from civicgrid.schemas.enums import ActorKind
from civicgrid.schemas.inbound import ActorRecord, CaseUpdate
from civicgrid.schemas.internal import ActorScope, Enrichment

_TERRITORY_NAMES = ("district", "street", "community")


class ActorRoster:
    """The roster as the worker holds it: actor id -> scope; a tombstone removes the actor."""

    def __init__(self) -> None:
        self._actors: dict[str, ActorScope] = {}

    def apply(self, actor_id: str, record: ActorRecord | None) -> None:
        if record is None:
            self._actors.pop(actor_id, None)
            return
        self._actors[actor_id] = ActorScope(
            kind=record.kind,
            rung=record.rung,
            grids=record.grids,
            community=record.community,
            street=record.street,
            district=record.district,
            departments=record.departments,
        )

    def get(self, actor_id: str) -> ActorScope | None:
        return self._actors.get(actor_id)

    def __len__(self) -> int:
        return len(self._actors)


def refusal(update: CaseUpdate, enrichment: Enrichment | None, case: Case) -> str | None:
    """Why `update` is not the actor's to take on `case` (None: it is); see the module rules.

    `update` is the protected event: a grid worker's or resident's id is its keyed hash, like
    the case's reporter hashes."""
    kind, action = update.actor_kind, update.action
    if kind not in permitted(action):
        return f"a {kind.value} may not {action.value} a case"
    if kind is ActorKind.RESIDENT:
        if update.actor_id in case.reporter_hashes or update.actor_id == case_link_holder(
            case.case_code
        ):
            return None
        return "a resident may evaluate only a case they reported"
    actor = enrichment.actor if enrichment is not None else None
    if actor is None:
        return f"actor {update.actor_id} is not on the roster"
    if actor.kind is not kind:
        listed = actor.kind.value
        return f"actor {update.actor_id} is on the roster as a {listed}, not a {kind.value}"
    if not _in_territory(actor, case.grid_id, enrichment):
        return f"grid {case.grid_id} is outside the scope of {kind.value} {update.actor_id}"
    if kind is ActorKind.DEPARTMENT and not set(actor.departments) & set(case.departments):
        return f"case {case.case_id} is not dispatched to department {update.actor_id}"
    return None


def _in_territory(actor: ActorScope, grid_id: str, enrichment: Enrichment | None) -> bool:
    if actor.grids:
        return grid_id in actor.grids
    for rung in _TERRITORY_NAMES:
        wanted = getattr(actor, rung)
        if wanted is not None and (enrichment is None or getattr(enrichment, rung) != wanted):
            return False
    return True
