import pytest

from civicgrid.domain.lifecycle import SystemStep, TransitionRejected, transition
from civicgrid.schemas.enums import ActorKind, CaseAction, CaseState

S, A, K = CaseState, CaseAction, ActorKind


def run(state: CaseState, *steps: tuple[CaseAction, ActorKind]) -> CaseState:
    for action, actor in steps:
        state = transition(state, action, actor)
    return state


def test_main_path() -> None:
    state = transition(S.REPORTED, SystemStep.REGISTER)
    state = transition(state, SystemStep.DISPATCH)
    state = run(state, (A.ACCEPT, K.DEPARTMENT), (A.START, K.DEPARTMENT), (A.HANDLE, K.DEPARTMENT))
    assert state is S.HANDLED
    state = transition(state, SystemStep.SEND_TO_CHECK)
    assert run(state, (A.CHECK_PASS, K.GRID_WORKER)) is S.CLOSED


def test_self_handle_then_check() -> None:
    state = run(S.DISPATCHED, (A.SELF_HANDLE, K.GRID_WORKER))
    assert state is S.SELF_HANDLED
    assert run(state, (A.CHECK_PASS, K.OPERATOR)) is S.CLOSED
    assert run(state, (A.CHECK_FAIL, K.GRID_WORKER)) is S.DISPATCHED


def test_rework_goes_back_to_in_progress() -> None:
    assert run(S.CHECKING, (A.CHECK_FAIL, K.GRID_WORKER)) is S.IN_PROGRESS
    assert run(S.HANDLED, (A.CHECK_FAIL, K.OPERATOR)) is S.IN_PROGRESS


def test_return_reopen_cancel_and_state_keeping_actions() -> None:
    assert run(S.ACCEPTED, (A.RETURN, K.DEPARTMENT)) is S.RETURNED
    assert transition(S.RETURNED, SystemStep.DISPATCH) is S.DISPATCHED
    assert run(S.CLOSED, (A.REOPEN, K.OPERATOR)) is S.DISPATCHED
    assert run(S.IN_PROGRESS, (A.EXTEND, K.OPERATOR)) is S.IN_PROGRESS
    assert run(S.CLOSED, (A.EVALUATE, K.RESIDENT)) is S.CLOSED
    for state in CaseState:
        if state.is_open:
            assert run(state, (A.CANCEL, K.OPERATOR)) is S.CANCELLED


@pytest.mark.parametrize(
    ("state", "action", "actor", "why"),
    [
        (S.REGISTERED, A.CLOSE, K.OPERATOR, "not allowed in state REGISTERED"),
        (S.DISPATCHED, A.CHECK_PASS, K.GRID_WORKER, "not allowed"),
        (S.ACCEPTED, A.ACCEPT, K.DEPARTMENT, "not allowed"),  # a stale step
        (S.CANCELLED, A.REOPEN, K.OPERATOR, "not allowed"),
        (S.DISPATCHED, A.CANCEL, K.RESIDENT, "a resident may not cancel"),
        (S.DISPATCHED, A.SELF_HANDLE, K.DEPARTMENT, "a department may not"),
        # a handler asks for more time (request_extension); only an operator grants it
        (S.IN_PROGRESS, A.EXTEND, K.DEPARTMENT, "a department may not extend"),
    ],
)
def test_rejections_name_their_reason(
    state: CaseState, action: CaseAction, actor: ActorKind, why: str
) -> None:
    with pytest.raises(TransitionRejected, match=why):
        transition(state, action, actor)


def test_system_steps_are_not_for_actors() -> None:
    with pytest.raises(TransitionRejected):
        transition(S.REPORTED, SystemStep.REGISTER, K.OPERATOR)
    with pytest.raises(TransitionRejected, match="needs an actor"):
        transition(S.DISPATCHED, A.ACCEPT)
