"""A scripted day through the real broker, PostgreSQL and a worker: every assessment figure
checked against values computed by hand, then recomputed from history by the CLI.

The day, 2026-03-02 (+08:00), in grid G1 (6 codes, 10 households, workers W-1 and W-2):

  07:00 W-1 scans M1, 07:10 M2, 07:20 M1 again; 07:40 W-1 patrols at L1; W-1 visits H1, H2,
        H1 again; W-2 visits H3; 14:20 W-2 scans D1
  C1  08:00 resident reports manhole M1 (drainage, P1: deadline 10:00); 08:30 W-1 verifies;
      accept 08:10, start 08:20, handle 09:00 -> CHECKING; 09:30 W-1 check_pass -> CLOSED
  C2  09:00 W-1 reports M2 (deadline 11:00); 09:30 a resident reports M2 (joins C2);
      accept 09:10, start 09:15, handle 09:40; 10:00 W-1 check_fail (rework);
      handle 11:30; 14:00 W-2 check_pass -> CLOSED late
  C3  10:00 resident reports M3 (deadline 12:00); accept 10:05; an operator extends 10:30 by 4 h
      (deadline 16:00); start 10:40; still IN_PROGRESS at midnight; 13:00 W-2 verifies
  C5  11:00 W-1 reports street light L1; 11:20 W-1 self-handles; 12:00 W-2 check_pass
  C6  14:30 W-2 reports clutter at D1; 15:00 a resident reports it (joins); 15:30 an
      operator cancels it (a false report)
  C4  23:00 W-2 reports manhole M4 (deadline 01:00 the next day)

The day is a Monday; the default working calendar works 08:30-12:00 and 13:30-17:30, which
times verifies and checks. G1 is the joint charge of W-1 and W-2: each is judged against
half its codes (3) and households (5), and a matter either reported first is missed by neither.
"""

import asyncio
import csv
import io
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
from click.testing import CliRunner

from civicgrid.cli.main import cli
from civicgrid.db.queries import COUNT_ACCOUNTED
from civicgrid.domain.privacy import KeyedHasher
from civicgrid.embedded.stack import Endpoints
from civicgrid.topics import catalogue as topics
from tests.support.database import fetch, fetchval, wait_until
from tests.support.kafka import NO_BROKER, publish, read_topic
from tools.workerproc import WorkerProcess

CST = timezone(timedelta(hours=8))
KEY = "test-key-0123456789abcdef"  # the start_worker fixture's pseudonym key
HASH = KeyedHasher(KEY.encode()).hash
W1, W2 = f"G1/{HASH('W-1')}", f"G1/{HASH('W-2')}"
CODES = {"M1": "manhole_cover", "M2": "manhole_cover", "M3": "manhole_cover"}
CODES |= {"M4": "manhole_cover", "L1": "street_light", "D1": "doorplate"}
MANHOLE, LIGHT, CLUTTER = (
    ("井盖不见了，很危险", "01002"),
    ("路灯晚上不亮", "01037"),
    (
        "楼道里乱堆杂物",
        "06036",
    ),
)


def at(hour: int, minute: int = 0) -> str:
    return datetime(2026, 3, 2, hour, minute, tzinfo=CST).isoformat()


def _event(hour: int, minute: int) -> dict[str, Any]:
    return {"event_id": str(uuid.uuid4()), "occurred_at": at(hour, minute), "schema_version": 1}


def report(time: tuple[int, int], code: str, what: tuple[str, str], reporter: str) -> Any:
    role = "grid_worker" if reporter.startswith("W-") else "resident"
    value = _event(*time) | {
        "channel": "patrol" if role == "grid_worker" else "app",
        "code": code,
        "category_hint": what[1],
        "description": what[0],
        "reporter_id": reporter,
        "reporter_role": role,
    }
    return (topics.REPORTS.name, code, value)


def scan(time: tuple[int, int], code: str, worker: str) -> Any:
    value = _event(*time) | {"code": code, "scanner_id": worker}
    return (topics.SCANS.name, code, value | {"scanner_role": "grid_worker", "purpose": "patrol"})


def patrol(time: tuple[int, int], worker: str, kind: str, **fields: str) -> Any:
    value = _event(*time) | {"worker_id": worker, "grid_id": "G1", "kind": kind, **fields}
    return (topics.PATROLS.name, worker, value)


def update(time: tuple[int, int], case_id: str, action: str, actor: str, note: str = "") -> Any:
    kind = {"W": "grid_worker", "O": "operator"}.get(actor[0], "department")
    value = _event(*time) | {"case_id": case_id, "actor_id": actor, "actor_kind": kind}
    value |= {"action": action} | ({"note": note} if note else {})
    return (topics.CASE_UPDATES.name, case_id, value)


def city() -> list[Any]:
    grid = {
        "grid_id": "G1",
        "name": "一网格",
        "community": "C",
        "street": "S1",
        "district": "D",
        "city": "T",
        "worker_ids": ["W-1", "W-2"],
        "households": 10,
    }
    records: list[Any] = [(topics.GRIDS.name, "G1", grid)]
    roster = [
        {"actor_id": "W-1", "kind": "grid_worker", "grids": ["G1"]},
        {"actor_id": "W-2", "kind": "grid_worker", "grids": ["G1"]},
        {"actor_id": "drainage", "kind": "department", "departments": ["drainage"]},
        {"actor_id": "OP-1", "kind": "operator", "rung": "district", "district": "D"},
    ]
    records += [(topics.ACTORS.name, actor["actor_id"], actor) for actor in roster]
    for code, kind in CODES.items():
        registry = {"code": code, "element_type": "thing", "kind": kind, "grid_id": "G1"}
        records.append((topics.REGISTRY.name, code, registry))
    return records


def ids(records: list[Any], *which: int) -> list[str]:
    return [records[i][2]["event_id"] for i in which]


async def _stored(url: str) -> dict[str, Any]:
    rows = await fetch(url, "SELECT * FROM assessments WHERE day = '2026-03-02'")
    # a plain connection reads jsonb as text
    return {
        row["subject_id"]: dict(row) | {k: orjson.loads(row[k]) for k in ("indicators", "trace")}
        for row in rows
    }


async def _wait_stored(url: str, expected: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The leader recomputes every second; wait until it has seen the whole day."""
    rows: dict[str, Any] = {}
    for _ in range(120):
        rows = await _stored(url)
        figures = {s: rows[s]["indicators"] for s in expected if s in rows}
        if figures == {s: e["indicators"] for s, e in expected.items()}:
            return rows
        await asyncio.sleep(0.5)
    return rows


def test_scripted_day_by_hand(
    endpoints: Endpoints, start_worker: Callable[..., WorkerProcess]
) -> None:
    bootstrap, url = endpoints.kafka_bootstrap, endpoints.database_url
    asyncio.run(publish(bootstrap, city()))
    # no SLA ticks: they would escalate the day's past-due cases in real time
    # a fixed day in the past: a backfill, beyond the default occurred_at window
    start_worker(
        CIVICGRID_SLA_CHECK_SECONDS="3600",
        CIVICGRID_ASSESS_SECONDS="1",
        CIVICGRID_OCCURRED_AT_MAX_AGE_DAYS="36500",
    ).wait_ready()

    day = [
        scan((7, 0), "M1", "W-1"),  # 0
        scan((7, 10), "M2", "W-1"),  # 1
        scan((7, 20), "M1", "W-1"),  # 2: M1 again
        patrol((7, 40), "W-1", "patrol", code="L1"),  # 3
        patrol((7, 45), "W-1", "visit", household_id="H1"),  # 4
        patrol((7, 50), "W-1", "visit", household_id="H2"),  # 5
        patrol((7, 55), "W-1", "visit", household_id="H1"),  # 6: H1 again
        patrol((8, 5), "W-2", "visit", household_id="H3"),  # 7
        scan((14, 20), "D1", "W-2"),  # 8
        report((8, 0), "M1", MANHOLE, "R-1"),  # 9: opens C1
        report((9, 0), "M2", MANHOLE, "W-1"),  # 10: opens C2
        report((9, 30), "M2", MANHOLE, "R-2"),  # 11: joins C2
        report((10, 0), "M3", MANHOLE, "R-3"),  # 12: opens C3
        report((11, 0), "L1", LIGHT, "W-1"),  # 13: opens C5
        report((14, 30), "D1", CLUTTER, "W-2"),  # 14: opens C6
        report((15, 0), "D1", CLUTTER, "R-6"),  # 15: joins C6
        report((23, 0), "M4", MANHOLE, "W-2"),  # 16: opens C4
    ]
    asyncio.run(publish(bootstrap, day))
    assert asyncio.run(wait_until(url, COUNT_ACCOUNTED, len(day))) == len(day)
    rows = asyncio.run(fetch(url, "SELECT data->>'code' AS code, case_id FROM cases"))
    case = {row["code"]: row["case_id"] for row in rows}
    c1, c2, c3, c4, c5, c6 = (case[c] for c in ("M1", "M2", "M3", "M4", "L1", "D1"))

    steps = [
        update((8, 10), c1, "accept", "drainage"),
        update((8, 20), c1, "start", "drainage"),
        update((9, 0), c1, "handle", "drainage"),
        update((9, 30), c1, "check_pass", "W-1"),  # 3
        update((9, 10), c2, "accept", "drainage"),
        update((9, 15), c2, "start", "drainage"),
        update((9, 40), c2, "handle", "drainage"),
        update((10, 0), c2, "check_fail", "W-1"),  # 7
        update((11, 30), c2, "handle", "drainage"),
        update((14, 0), c2, "check_pass", "W-2"),  # 9
        update((10, 5), c3, "accept", "drainage"),
        update((10, 30), c3, "extend", "OP-1", "4 h"),  # the operator's own: at once
        update((10, 40), c3, "start", "drainage"),
        update((11, 20), c5, "self_handle", "W-1"),
        update((12, 0), c5, "check_pass", "W-2"),  # 14
        update((15, 30), c6, "cancel", "OP-1"),
        patrol((8, 30), "W-1", "verify", case_id=c1),  # 16
        patrol((13, 0), "W-2", "verify", case_id=c3),  # 17
    ]
    asyncio.run(publish(bootstrap, steps))
    total = len(day) + len(steps)
    assert asyncio.run(wait_until(url, COUNT_ACCOUNTED, total)) == total
    assert asyncio.run(fetchval(url, "SELECT count(*) FROM dead_letters")) == 0

    expected: dict[str, dict[str, Any]] = {
        # as of midnight: C1 closed 09:30 <= 10:00; C2 closed 14:00 > 11:00 after a rework;
        # C3 in progress past its extended 16:00; C4 due 01:00 tomorrow. C5 was self-handled
        # (the worker's credit) and C6 cancelled: neither is the department's.
        "drainage": {
            "indicators": {
                "closure_rate": 2 / 3,  # C1 C2 / C1 C2 C3
                "on_time_closure_rate": 1 / 3,  # C1 / C1 C2 C3
                "rework_rate": 1 / 3,  # C2 / C1 C2 C3
                "overdue_pending_rate": 1 / 4,  # C3 / C1 C2 C3 C4
                "handling_rate": 2 / 4,  # C1 C2 / C1 C2 C3 C4
                "extension_rate": 1 / 4,  # C3 / C1 C2 C3 C4
                "supervision_rate": 0 / 4,
            },
            # (.25*2/3 + .30/3 + .15*(1-1/3) + .15*(1-1/4) + .10*.5 + .05*(1-1/4) + .05*1)
            # / 1.05 = .616667 / 1.05 = .587302
            "score": 58.73,
            "grade": "D",
        },
        W1: {
            "indicators": {
                "reports_uploaded": 2.0,  # C2, C5
                "valid_report_rate": 2 / 2,  # both became real cases
                "self_handled_rate": 1 / 2,  # C5
                "code_coverage": 3 / 3,  # M1 M2 L1 of a share of 6 codes / 2 workers
                "household_coverage": 2 / 5,  # H1 H2 of a share of 10 households / 2
                # residents' C1 C3 not preceded; C2 W-1 reported first, C6 W-2 did
                "missed_report_rate": 2 / 4,
                # C1 at 08:30, opened 08:00: no working time yet (work starts 08:30)
                "verify_on_time_rate": 1 / 1,
                "check_on_time_rate": 2 / 2,  # C1 30 min, C2 20 min after CHECKING
            },
            # .2*1 + .1*.5 + .15*1 + .15*.4 + .2*(1-.5) + .1*1 + .1*1 = .76
            "score": 76.0,
            "grade": "B",
        },
        W2: {
            "indicators": {
                "reports_uploaded": 2.0,  # C6, C4
                "valid_report_rate": 1 / 2,  # C6 was cancelled as false
                "self_handled_rate": 0 / 1,
                "code_coverage": 1 / 3,  # D1 of a share of 3
                "household_coverage": 1 / 5,  # H3 of a share of 5
                "missed_report_rate": 2 / 4,  # C1 C3 missed; W-1 reported C2 first, W-2 C6
                # C3 at 13:00, opened 10:00: 10:00-12:00 is 2 working hours, lunch is not
                "verify_on_time_rate": 1 / 1,
                # C5 40 min after self-handled at 11:20; C2 at 14:00 after CHECKING at 11:30:
                # 11:30-12:00 and 13:30-14:00, 1 working hour
                "check_on_time_rate": 2 / 2,
            },
            # .2*.5 + .1*0 + .15/3 + .15*.2 + .2*(1-.5) + .1*1 + .1*1 = .48
            "score": 48.0,
            "grade": "D",
        },
        # its one case was cancelled: every denominator is 0, so no score and no grade
        "property_management": {
            "indicators": dict.fromkeys(
                (
                    "closure_rate",
                    "on_time_closure_rate",
                    "rework_rate",
                    "overdue_pending_rate",
                    "handling_rate",
                    "extension_rate",
                    "supervision_rate",
                )
            ),
            "score": None,
            "grade": None,
        },
    }
    stored = asyncio.run(_wait_stored(url, expected))
    assert sorted(stored) == sorted(expected)  # no lighting: its one case was self-handled
    for subject, figures in expected.items():
        row = stored[subject]
        assert row["indicators"] == figures["indicators"], subject
        assert (row["score"], row["grade"]) == (figures["score"], figures["grade"]), subject

    # traceability: the ids behind the figures
    drainage = stored["drainage"]["trace"]
    assert drainage["on_time_closure_rate"]["numerator"] == [c1]
    assert sorted(drainage["on_time_closure_rate"]["denominator"]) == sorted([c1, c2, c3])
    assert drainage["rework_rate"]["numerator"] == [c2]
    assert drainage["overdue_pending_rate"]["numerator"] == [c3]
    assert sorted(drainage["handling_rate"]["denominator"]) == sorted([c1, c2, c3, c4])
    w1, w2 = stored[W1]["trace"], stored[W2]["trace"]
    assert w1["missed_report_rate"]["numerator"] == ids(day, 9, 12)
    assert w1["missed_report_rate"]["denominator"] == ids(day, 9, 11, 12, 15)
    assert w2["missed_report_rate"] == w1["missed_report_rate"]
    assert w1["code_coverage"] == {
        "numerator": ids(day, 0, 1, 3),
        "denominator": [],
        "population": 3,
    }
    assert w1["household_coverage"]["numerator"] == ids(day, 4, 5)
    assert w1["self_handled_rate"]["numerator"] == ids(day, 13)
    assert w1["check_on_time_rate"]["numerator"] == ids(steps, 3, 7)
    assert w2["check_on_time_rate"] == {
        "numerator": ids(steps, 14, 9),  # in time order: 12:00, 14:00
        "denominator": ids(steps, 14, 9),
    }
    assert w2["verify_on_time_rate"]["denominator"] == ids(steps, 17)
    assert w2["valid_report_rate"]["numerator"] == ids(day, 16)

    # the stream published the scored subjects
    # every message there is (the leader published as the day filled in): the last counts
    published = asyncio.run(read_topic(bootstrap, topics.ASSESSMENTS.name, 10**6, wait_s=3.0))
    # (the leader also scores the real today: the idle workers get an E there)
    last = {
        key.decode(): value
        for key, value in published
        if key is not None and value["period"]["start"] == "2026-03-02T00:00:00+08:00"
    }
    # (lighting and property_management were scored too while their cases were open)
    for subject in ("drainage", W1, W2):
        assert last[subject]["score"] == expected[subject]["score"]
        assert last[subject]["grade"] == expected[subject]["grade"]
        assert last[subject]["period"]["end"] == "2026-03-03T00:00:00+08:00"

    # recomputed from Postgres history by the CLI: the same figures as the stream stored,
    # the grids and workers from the state mirror, with no broker to be reached
    runner = CliRunner()
    env = {
        "CIVICGRID_KAFKA_BROKER": NO_BROKER,
        "CIVICGRID_DATABASE_URL": url,
        "CIVICGRID_PSEUDONYM_KEY": KEY,
    }
    result = runner.invoke(cli, ["assess", "--day", "2026-03-02", "--format", "csv"], env=env)
    assert result.exit_code == 0, result.output
    recomputed = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["kind"], r["rank"], r["subject"]) for r in recomputed] == [
        ("department", "1", "drainage"),
        ("department", "2", "property_management"),
        ("grid_worker", "1", "W-1"),
        ("grid_worker", "2", "W-2"),
    ]
    for r in recomputed:
        row = stored[r["subject_id"]]
        assert (r["score"], r["grade"]) == (_text(row["score"]), row["grade"] or "")
        for figure, value in row["indicators"].items():
            assert r[figure] == _text(value), (r["subject_id"], figure)

    result = runner.invoke(cli, ["assess", "--day", "2026-03-02", "--street", "S1"], env=env)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "grid_workers (B 1, D 1)" in lines
    ranked = [line.split()[:5] for line in lines if line[:1].isdigit()]
    assert ranked == [
        ["1", "drainage", "58.73", "D", "66.7%"],
        ["2", "property_management", "n/a", "-", "n/a"],
        ["1", "W-1", "G1", "76.00", "B"],
        ["2", "W-2", "G1", "48.00", "D"],
    ]

    result = runner.invoke(
        cli,
        ["assess", "trace", "W-1", "--day", "2026-03-02", "--figure", "missed_report_rate"],
        env=env,
    )
    assert result.exit_code == 0, result.output
    numerator = result.stdout.split("denominator")[0]
    for event_id in ids(day, 9, 12):
        assert event_id in numerator
    for event_id in ids(day, 11, 15):
        assert event_id not in numerator


def _text(value: float | None) -> str:
    return "" if value is None else str(value)
