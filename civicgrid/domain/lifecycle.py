"""The case lifecycle of SPEC §4 as one explicit state machine.

Actors take the actions of civic.case-updates.v1; the core itself takes the system steps
(registering, dispatching, sending to check, escalating), which no inbound update may.
Decisions the table encodes:

- rework (check_fail) sends the case back to IN_PROGRESS: the department already accepted
  it, so it redoes the work without a new acceptance;
- a failed check of a self-handled case goes to DISPATCHED: the grid worker's fix did not
  hold, so the case takes the ordinary route to a department;
- ESCALATED is "dispatched again by a higher rung": it may be entered from any state in
  which the SLA clock runs, and the department accepts it anew, like DISPATCHED;
- DUPLICATE is never entered: a duplicate report joins the open case rather than opening
  one of its own;
- a report marked for verification (核实) opens its case in VERIFYING instead of registering
  it: `verify` registers it (and the core dispatches it), `reject` cancels it;
- SUSPENDED (挂账) is entered only by an operator's `suspend` (the operator is the approving
  authority) from a state whose clock runs, and `resume` returns the case to the state it was
  suspended from (the case records it), with the working time that was left;
- an extension is asked for (`request_extension`, by its handlers) and waits for an operator
  to `approve_extension` or `refuse_extension`: a handler cannot move its own deadline.
  `extend` (SPEC §2) is an operator's own extension and applies at once;
- `supervise` (督办) keeps the state; the case records the card and its priority rises;
- `reclassify` (an operator corrects the category) re-dispatches a case its handlers hold
  to the new category's owners, who accept it anew (DISPATCHED); a case still VERIFYING
  keeps waiting, with the new category, for its verification;
- reopen and evaluate are the only actions on a terminal state.
"""

from dataclasses import dataclass
from enum import StrEnum

from civicgrid.schemas.enums import ActorKind, CaseAction, CaseState


class SystemStep(StrEnum):
    HOLD_FOR_VERIFICATION = "hold_for_verification"
    REGISTER = "register"
    DISPATCH = "dispatch"
    SEND_TO_CHECK = "send_to_check"
    ESCALATE = "escalate"
    # a resident's 不满意 soon after closing reopens the case (the city's policy window)
    REOPEN_DISSATISFIED = "reopen_dissatisfied"
    # a household cross-check finding whose cause new evidence removed (issue 21): its case
    # is cancelled by the core, with the reason in its history
    WITHDRAW = "withdraw"


Step = CaseAction | SystemStep

S = CaseState
A = CaseAction
_WORKER, _DEPT = ActorKind.GRID_WORKER, ActorKind.DEPARTMENT
_OPERATOR, _RESIDENT = ActorKind.OPERATOR, ActorKind.RESIDENT
_HANDLERS = frozenset({_WORKER, _DEPT})
_CHECKERS = frozenset({_WORKER, _OPERATOR})

# States in which the case waits on its handlers, so its SLA clock runs and it may climb.
SLA_RUNNING = frozenset(
    {S.REGISTERED, S.DISPATCHED, S.ESCALATED, S.ACCEPTED, S.IN_PROGRESS, S.RETURNED}
)
_AWAITING_ACCEPTANCE = (S.DISPATCHED, S.ESCALATED)
# States in which the handlers have the case and its deadline may move.
_EXTENDABLE = tuple(sorted(SLA_RUNNING - {S.REGISTERED, S.RETURNED}))


@dataclass(frozen=True, slots=True)
class Rule:
    target: CaseState | None  # None keeps the state
    actors: frozenset[ActorKind]  # empty: a system step


def _rules() -> dict[tuple[CaseState, Step], Rule]:
    table: dict[tuple[CaseState, Step], Rule] = {}

    def allow(
        sources: tuple[CaseState, ...],
        step: Step,
        target: CaseState | None,
        actors: frozenset[ActorKind] = frozenset(),
    ) -> None:
        for source in sources:
            table[source, step] = Rule(target, actors)

    allow((S.REPORTED,), SystemStep.REGISTER, S.REGISTERED)
    allow((S.REPORTED,), SystemStep.HOLD_FOR_VERIFICATION, S.VERIFYING)
    allow((S.VERIFYING,), A.VERIFY, S.REGISTERED, _CHECKERS)
    allow((S.VERIFYING,), A.REJECT, S.CANCELLED, _CHECKERS)
    allow((S.REGISTERED, S.RETURNED), SystemStep.DISPATCH, S.DISPATCHED)
    allow((S.HANDLED,), SystemStep.SEND_TO_CHECK, S.CHECKING)
    allow(tuple(sorted(SLA_RUNNING)), SystemStep.ESCALATE, S.ESCALATED)
    allow(_AWAITING_ACCEPTANCE, A.ACCEPT, S.ACCEPTED, _HANDLERS)
    allow((*_AWAITING_ACCEPTANCE, S.ACCEPTED), A.RETURN, S.RETURNED, frozenset({_DEPT}))
    allow((S.ACCEPTED,), A.START, S.IN_PROGRESS, _HANDLERS)
    allow((S.ACCEPTED, S.IN_PROGRESS), A.HANDLE, S.HANDLED, _HANDLERS)
    allow((S.REGISTERED, S.DISPATCHED), A.SELF_HANDLE, S.SELF_HANDLED, frozenset({_WORKER}))
    allow((S.HANDLED, S.CHECKING, S.SELF_HANDLED), A.CHECK_PASS, S.CLOSED, _CHECKERS)
    allow((S.HANDLED, S.CHECKING), A.CHECK_FAIL, S.IN_PROGRESS, _CHECKERS)
    allow((S.SELF_HANDLED,), A.CHECK_FAIL, S.DISPATCHED, _CHECKERS)
    allow((S.CHECKING, S.SELF_HANDLED), A.CLOSE, S.CLOSED, frozenset({_OPERATOR}))
    allow((S.CLOSED,), A.REOPEN, S.DISPATCHED, frozenset({_OPERATOR}))
    allow((S.CLOSED,), SystemStep.REOPEN_DISSATISFIED, S.DISPATCHED)
    open_states = tuple(state for state in CaseState if state.is_open)
    allow(open_states, A.CANCEL, S.CANCELLED, frozenset({_OPERATOR}))
    allow(open_states, SystemStep.WITHDRAW, S.CANCELLED)
    allow(_EXTENDABLE, A.EXTEND, None, frozenset({_OPERATOR}))
    allow(_EXTENDABLE, A.REQUEST_EXTENSION, None, _HANDLERS)
    allow(_EXTENDABLE, A.APPROVE_EXTENSION, None, frozenset({_OPERATOR}))
    allow(_EXTENDABLE, A.REFUSE_EXTENSION, None, frozenset({_OPERATOR}))
    allow(tuple(sorted(SLA_RUNNING)), A.SUSPEND, S.SUSPENDED, frozenset({_OPERATOR}))
    # the target is the state the case was suspended from: the case book supplies it
    allow((S.SUSPENDED,), A.RESUME, None, frozenset({_OPERATOR}))
    allow(open_states, A.SUPERVISE, None, frozenset({_OPERATOR}))
    allow((S.CLOSED,), A.EVALUATE, None, frozenset({_RESIDENT}))
    allow(tuple(sorted(SLA_RUNNING)), A.RECLASSIFY, S.DISPATCHED, frozenset({_OPERATOR}))
    allow((S.VERIFYING,), A.RECLASSIFY, None, frozenset({_OPERATOR}))
    return table


TRANSITIONS: dict[tuple[CaseState, Step], Rule] = _rules()


def _permitted() -> dict[CaseAction, frozenset[ActorKind]]:
    permitted: dict[CaseAction, frozenset[ActorKind]] = {}
    for (_, step), rule in TRANSITIONS.items():
        if isinstance(step, CaseAction):
            permitted[step] = permitted.get(step, frozenset()) | rule.actors
    return permitted


_PERMITTED = _permitted()


def permitted(action: CaseAction) -> frozenset[ActorKind]:
    """The kinds of actor that may take `action` in some state: whoever is outside it is
    refused as unauthorised whatever the case's state (docs/contract.md)."""
    return _PERMITTED.get(action, frozenset())


class TransitionRejected(Exception):  # noqa: N818 - the name the contract uses
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def transition(state: CaseState, step: Step, actor_kind: ActorKind | None = None) -> CaseState:
    """The state after `step`; `actor_kind` None means the core itself (system steps only)."""
    rule = TRANSITIONS.get((state, step))
    if rule is None:
        raise TransitionRejected(f"{step.value} is not allowed in state {state.value}")
    if actor_kind is None and rule.actors:
        raise TransitionRejected(f"{step.value} needs an actor")
    if actor_kind is not None and actor_kind not in rule.actors:
        raise TransitionRejected(
            f"a {actor_kind.value} may not {step.value} a case in state {state.value}"
        )
    return state if rule.target is None else rule.target
