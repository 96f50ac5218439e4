"""Who sees what in the console: roles and scopes that mirror the ladder (pure).

City operators see the whole city; district, street and community operators the grids
whose rung has their scope's name; a grid worker the grids listing them; a department the
cases dispatched to it. The server turns a scope into SQL conditions; the page never
decides."""

from dataclasses import dataclass
from enum import StrEnum

from civicgrid.schemas.enums import ActorKind, Level


class Role(StrEnum):
    CITY = "city"
    DISTRICT = "district"
    STREET = "street"
    COMMUNITY = "community"
    GRID_WORKER = "grid_worker"
    DEPARTMENT = "department"

    @property
    def actor_kind(self) -> ActorKind:
        """The kind the operator's case updates carry on civic.case-updates.v1."""
        if self is Role.GRID_WORKER:
            return ActorKind.GRID_WORKER
        if self is Role.DEPARTMENT:
            return ActorKind.DEPARTMENT
        return ActorKind.OPERATOR

    @property
    def rung(self) -> Level | None:
        return {
            Role.CITY: Level.CITY,
            Role.DISTRICT: Level.DISTRICT,
            Role.STREET: Level.STREET,
            Role.COMMUNITY: Level.COMMUNITY,
        }.get(self)


@dataclass(frozen=True, slots=True)
class Operator:
    operator_id: str
    role: Role
    scope: str


@dataclass(frozen=True, slots=True)
class GridFilter:
    """A WHERE condition on mirror_grids (alias g) and its one parameter, or none."""

    sql: str
    value: str | None


def grid_filter(operator: Operator) -> GridFilter:
    match operator.role:
        case Role.CITY:
            return GridFilter("true", None)
        case Role.DISTRICT | Role.STREET | Role.COMMUNITY:
            return GridFilter(f"g.{operator.role.value} = $1", operator.scope)
        case Role.GRID_WORKER:
            return GridFilter("$1 = ANY(g.worker_ids)", operator.scope)
        case Role.DEPARTMENT:
            # a department is not territorial: every grid, its cases filtered by dispatch
            return GridFilter("true", None)


def case_department(operator: Operator) -> str | None:
    """A department sees only the cases dispatched to it."""
    return operator.scope if operator.role is Role.DEPARTMENT else None


# What each role may do from the case page; the stream's authorisation decides for real.
ACTIONS: dict[ActorKind, tuple[str, ...]] = {
    ActorKind.OPERATOR: (
        "verify",
        "reject",
        "reclassify",
        "supervise",
        "approve_extension",
        "refuse_extension",
        "suspend",
        "resume",
        "cancel",
        "close",
        "reopen",
    ),
    ActorKind.GRID_WORKER: ("verify", "reject", "self_handle", "check_pass", "check_fail"),
    ActorKind.DEPARTMENT: ("accept", "return", "start", "handle", "request_extension"),
}
