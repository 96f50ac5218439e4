from collections import Counter
from datetime import datetime, timedelta, timezone

from tools.city.departments import DepartmentModel

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=timezone(timedelta(hours=8)))
ACTIONS = {"accept", "return", "start", "handle", "self_handle", "check_pass", "check_fail"}


def _dispatch(n: int, network: bool, lead: str = "traffic_police") -> dict[str, object]:
    grid_id = "TZ-HL-01-02-003"
    value: dict[str, object] = {
        "case_id": f"{grid_id}~{n}",
        "case_code": f"C{n:06d}",
        "grid_id": grid_id,
        "category": "09009",
        "severity": "P3",
        "deadline": (NOW + timedelta(hours=4)).isoformat(),
    }
    if network:
        value |= {"level": "street", "lead_department": lead, "co_departments": []}
        value |= {"reason": "severity P1"}
    return value


def _plans(
    network: bool, n: int = 2000, lead: str = "traffic_police"
) -> list[list[tuple[float, dict[str, object]]]]:
    model = DepartmentModel(seed=7)
    return [model.respond(_dispatch(i, network, lead), NOW) for i in range(n)]


def _late_and_reworked(plans: list[list[tuple[float, dict[str, object]]]]) -> tuple[float, float]:
    deadline_s = 4 * 3600
    late = sum(any(v["action"] == "handle" and d > deadline_s for d, v in p) for p in plans)
    reworked = sum(any(v["action"] == "check_fail" for _, v in p) for p in plans)
    return late / len(plans), reworked / len(plans)


def test_updates_follow_the_spec_and_time_moves_forward() -> None:
    for plan in _plans(network=True, n=200):
        delays = [d for d, _ in plan]
        assert delays == sorted(delays)
        assert delays[0] > 0
        for delay, value in plan:
            assert set(value) == {
                "event_id", "occurred_at", "schema_version", "case_id",
                "actor_id", "actor_kind", "action", "note",
            }  # fmt: skip
            assert value["action"] in ACTIONS
            occurred = datetime.fromisoformat(str(value["occurred_at"]))
            assert abs((occurred - NOW).total_seconds() - delay) < 0.01


def test_network_cases_close_the_loop_with_returns_rework_and_overdue() -> None:
    plans = _plans(network=True)
    last = Counter(str(plan[-1][1]["action"]) for plan in plans)
    assert 0.03 < last["return"] / len(plans) < 0.08
    late, reworked = _late_and_reworked(plans)
    assert 0 < late < 0.35
    assert 0 < reworked < 0.27
    normal = next(p for p in plans if [v["action"] for _, v in p][-1] == "check_pass")
    assert [v["action"] for _, v in normal][:3] == ["accept", "start", "handle"]
    assert normal[0][1]["actor_kind"] == "department"
    assert normal[-1][1]["actor_kind"] == "grid_worker"


def test_departments_differ_in_lateness_and_rework() -> None:
    # each department's habits are 0.2-3 times the base shares (10 % late, 8 % reworked)
    leads = ("traffic_police", "drainage", "sanitation", "gas", "lighting", "greening")
    habits = [_late_and_reworked(_plans(network=True, n=600, lead=lead)) for lead in leads]
    late = [h[0] for h in habits]
    reworked = [h[1] for h in habits]
    assert all(0.01 < share < 0.35 for share in late)
    assert max(late) - min(late) > 0.05
    assert max(reworked) - min(reworked) > 0.03


def test_grid_workers_settle_some_small_matters_themselves() -> None:
    plans = _plans(network=False, n=500)
    own = [p for p in plans if p[0][1]["action"] == "self_handle"]
    assert 0.25 < len(own) / len(plans) < 0.45
    assert all(p[0][1]["actor_id"] == "W-TZ-HL-01-02-003-1" for p in own)


def test_deterministic_and_a_returned_case_is_not_returned_forever() -> None:
    assert _plans(network=True, n=50) == _plans(network=True, n=50)
    model = DepartmentModel(seed=7)
    actions = [model.respond(_dispatch(1, True), NOW)[-1][1]["action"] for _ in range(50)]
    assert actions.count("return") < 10


def test_a_grid_worker_verifies_a_residents_case() -> None:
    model = DepartmentModel(seed=7)
    workers = ("W-TZ-HL-01-02-003-1", "W-TZ-HL-01-02-003-2")
    verifies = [model.verify(_dispatch(i, False), NOW, workers) for i in range(300)]
    for delay, value in verifies:
        assert value["kind"] == "verify"
        assert value["worker_id"] in workers
        occurred = datetime.fromisoformat(str(value["occurred_at"]))
        assert abs((occurred - NOW).total_seconds() - delay) < 0.01
    # opened on a Monday morning: keen workers go within 2 h, the others later
    on_time = sum(delay <= 2 * 3600 for delay, _ in verifies) / len(verifies)
    assert 0.3 < on_time < 0.95


def test_a_withdrawn_task_is_not_worked_on() -> None:
    model = DepartmentModel(seed=7)
    for network in (False, True):
        assert model.respond(_dispatch(1, network) | {"withdrawn": True}, NOW) == []
        assert model.respond(_dispatch(1, network) | {"withdrawn": False}, NOW) != []
