"""How departments and grid workers answer dispatches (civic.case-updates.v1), with delays.

Pure: `DepartmentModel.respond` turns one dispatch (SPEC §2 civic.dispatch.grid.v1 or
civic.dispatch.network.v1) into the updates a real actor would send, each with its delay after
the dispatch arrived. Most cases run accept -> start -> handle -> check_pass; some are returned
as wrong dispatches, some fail the check and are reworked, some are handled after the deadline,
and grid workers settle some small matters on the spot.
"""

import random
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from tools.city.mix import next_duty, worker_diligence
from tools.city.roster import community_operator, department_actor

Update = tuple[float, dict[str, Any]]

RETURN_SHARE = 0.05
CHECK_FAIL_SHARE = 0.08
OVERDUE_SHARE = 0.10
SELF_HANDLE_SHARE = 0.35  # of grid-level (small) matters
# Departments are not alike: each has its own lateness and rework, up to this many times the
# shares above (fixed per department and seed), so their grades differ as real ones do.
_SPREAD = (0.2, 3.0)
_MIN_WINDOW_S = 600.0  # a dispatch already at or past its deadline still takes some minutes
_NOTES = {
    "accept": ("已签收", "收到，马上安排"),
    "return": ("非本单位职责，申请退回重新派遣", "地址不在我单位辖区，退回"),
    "start": ("已安排人员到场处置", "工作人员已出发"),
    "handle": ("已处置完毕，现场已恢复", "问题已整改，附处置照片"),
    "self_handle": ("网格员现场处置完毕", "已当场劝导整改"),
    "check_pass": ("核查通过，现场已整改", "回访群众满意"),
    "check_fail": ("核查未通过，问题仍存在，退回返工", "现场未整改到位"),
}


class DepartmentModel:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        # A case dispatched again after a return must get a fresh draw, not the same return.
        self._dispatches: Counter[str] = Counter()

    def respond(self, dispatch: Mapping[str, Any], received_at: datetime) -> list[Update]:
        """Updates for one dispatch, as (seconds after `received_at`, update value); none for
        a withdrawn task (its case was reclassified: its new owners get a dispatch of their
        own)."""
        if dispatch.get("withdrawn"):
            return []
        case_id = str(dispatch["case_id"])
        self._dispatches[case_id] += 1
        rng = random.Random(f"{self.seed}/{case_id}/{self._dispatches[case_id]}")
        deadline = datetime.fromisoformat(str(dispatch["deadline"]))
        window = max((deadline - received_at).total_seconds(), _MIN_WINDOW_S)
        grid_id = str(dispatch["grid_id"])
        worker = (f"W-{grid_id}-1", "grid_worker")
        lead = dispatch.get("lead_department")
        steps = _Steps(rng, case_id, received_at)
        if lead is None and rng.random() < SELF_HANDLE_SHARE:
            steps.add(window * rng.uniform(0.05, 0.3), worker, "self_handle")
            return steps.updates
        # A network matter is the lead department's; a grid matter the grid's own worker's, and
        # the community checks it (a worker does not check their own work).
        handler = (department_actor(lead), "department") if lead else worker
        checker = worker if lead else (community_operator(grid_id), "operator")
        # Only a department sends a case back as a wrong dispatch (SPEC §4): the grid's own
        # worker owns a small matter and has no one to return it to.
        if lead is not None and rng.random() < RETURN_SHARE:
            steps.add(window * rng.uniform(0.02, 0.1), handler, "return")
            return steps.updates
        steps.add(window * rng.uniform(0.02, 0.1), handler, "accept")
        steps.add(window * rng.uniform(0.02, 0.1), handler, "start")
        late, rework = self._habits(lead)
        if rng.random() < late:
            handled_at = window * rng.uniform(1.05, 1.6)
        else:
            handled_at = max(steps.at + 60.0, window * rng.uniform(0.3, 0.85))
        steps.add(handled_at - steps.at, handler, "handle")
        if rng.random() < rework:
            # Rework puts the case back IN_PROGRESS (civicgrid/domain/lifecycle.py): the
            # handler redoes the work without starting it anew.
            steps.add(window * rng.uniform(0.02, 0.1), checker, "check_fail")
            steps.add(window * rng.uniform(0.1, 0.3), handler, "handle")
        steps.add(window * rng.uniform(0.02, 0.1), checker, "check_pass")
        return steps.updates

    def _habits(self, lead: str | None) -> tuple[float, float]:
        """(share handled late, share failing the check) of a department; the base shares
        for the grid's own workers."""
        if lead is None:
            return OVERDUE_SHARE, CHECK_FAIL_SHARE
        rng = random.Random(f"{self.seed}/habits/{lead}")
        return OVERDUE_SHARE * rng.uniform(*_SPREAD), CHECK_FAIL_SHARE * rng.uniform(*_SPREAD)

    def verify(
        self, dispatch: Mapping[str, Any], opened_at: datetime, workers: Sequence[str]
    ) -> Update:
        """A grid worker's patrol `verify` (核实) of a resident's case, as (seconds after
        `opened_at`, civic.patrols.v1 value). A keen worker goes within the hour or so when on
        duty; otherwise, or for a case opened off duty, it waits hours."""
        case_id = str(dispatch["case_id"])
        rng = random.Random(f"{self.seed}/{case_id}/verify")
        worker = rng.choice(list(workers))
        start = next_duty(opened_at)
        if rng.random() < worker_diligence(self.seed, worker):
            delay = rng.uniform(600.0, 6600.0)
        else:
            delay = rng.uniform(7800.0, 6 * 3600.0)
        at = next_duty(start + timedelta(seconds=delay))
        value = {
            "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "occurred_at": at.isoformat(timespec="milliseconds"),
            "schema_version": 1,
            "worker_id": worker,
            "grid_id": str(dispatch["grid_id"]),
            "kind": "verify",
            "case_id": case_id,
            "note": "已到现场核实",
        }
        return round((at - opened_at).total_seconds(), 3), value


class _Steps:
    """Accumulates updates, each a delay after the previous one."""

    def __init__(self, rng: random.Random, case_id: str, received_at: datetime) -> None:
        self.rng, self.case_id, self.received_at = rng, case_id, received_at
        self.at = 0.0
        self.updates: list[Update] = []

    def add(self, delay_s: float, actor: tuple[str, str], action: str) -> None:
        self.at += delay_s
        occurred = self.received_at + timedelta(seconds=self.at)
        value = {
            "event_id": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            "occurred_at": occurred.isoformat(timespec="milliseconds"),
            "schema_version": 1,
            "case_id": self.case_id,
            "actor_id": actor[0],
            "actor_kind": actor[1],
            "action": action,
            "note": self.rng.choice(_NOTES[action]),
        }
        self.updates.append((round(self.at, 3), value))
