"""The household reconciliation end to end (issue 21): a small simulated town through a real
broker, PostgreSQL and worker; its findings open L0103 cases for the police station, which
are dispatched and closed like any case, and a finding new evidence removes is withdrawn.
No person identifier is in clear in PostgreSQL, on a topic or in the worker's log."""

import asyncio
import csv
import io
import os
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from http.cookiejar import CookieJar
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
from click.testing import CliRunner

from civicgrid.cli.main import cli
from civicgrid.db.queries import ACCOUNTED_OFFSETS
from civicgrid.domain.households import Sighting, reconcile, thresholds_for
from civicgrid.domain.privacy import KeyedHasher, protect_presence, protect_resident
from civicgrid.embedded.stack import Endpoints
from civicgrid.schemas.inbound import PresenceObservation, ResidentRecord
from civicgrid.topics import catalogue as topics
from evaluation.households import stream
from evaluation.households.town import build_town
from tests.support.api import ApiProcess
from tests.support.database import fetch, fetchval, wait_until
from tests.support.events import TAIZHOU
from tests.support.kafka import publish, read_topic
from tools.workerproc import WorkerProcess

KEY = "test-key-0123456789abcdef"
PASSWORD = "correct horse battery"
CLEAR_IDS = re.compile(r"\b(?:[PVN]\d{6}|HH\d{5})\b")


def _expected(
    residents: list[stream.Record], presence: list[stream.Record], town_places: dict
) -> dict[str, object]:
    """The pure rules on the same records, hashed as intake hashes them: finding id -> finding."""
    from civicgrid.domain.householdflow import finding_id

    hasher = KeyedHasher(KEY.encode())
    people = {
        r.person_code: r
        for r in (
            protect_resident(ResidentRecord.model_validate_json(orjson.dumps(v)), hasher)
            for *_, v in residents
        )
    }
    seen: dict[str, list[Sighting]] = {}
    for *_, value in presence:
        observation = protect_presence(
            PresenceObservation.model_validate_json(orjson.dumps(value)), hasher
        )
        seen.setdefault(observation.person_code, []).append(Sighting.of(observation))
    since = min(s.day for ss in seen.values() for s in ss)
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    found = reconcile(people, seen, town_places, today, thresholds_for(stream.CITY), since)
    return {finding_id(hasher, f): f for f in found if f.grid_id is not None}


def _add_operator(endpoints: Endpoints, name: str, role: str, scope: str) -> None:
    env = {**os.environ, **endpoints.environment(), "CIVICGRID_PSEUDONYM_KEY": KEY}
    argv = ["operator", "add", name, "--role", role, "--scope", scope, "--password-stdin"]
    added = subprocess.run(
        [sys.executable, "-m", "civicgrid", *argv],
        input=PASSWORD.encode() + b"\n",
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert added.returncode == 0, added.stderr.decode()[-2000:]


def _session(base: str, name: str) -> urllib.request.OpenerDirector:
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    form = urllib.parse.urlencode({"operator_id": name, "password": PASSWORD}).encode()
    opener.open(f"{base}/console/login", form, timeout=10)
    return opener


def _update(case_id: str, actor: str, kind: str, action: str) -> dict[str, object]:
    return {
        "event_id": str(uuid.uuid4()),
        "occurred_at": datetime.now(TAIZHOU).isoformat(),
        "schema_version": 1,
        "case_id": case_id,
        "actor_id": actor,
        "actor_kind": kind,
        "action": action,
    }


def test_town_findings_open_dispatch_close_and_withdraw(
    endpoints: Endpoints, start_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    town = build_town(7, communities=1, households=250)
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    shift = stream.shift_to(today)
    residents = stream.resident_records(town, shift)
    presence = [o.record for o in stream.observations(town, shift)]
    expected = _expected(residents, presence, town.places)
    assert len(expected) >= 8  # the seed plants living-apart, unregistered, not deregistered

    bootstrap, url = endpoints.kafka_bootstrap, endpoints.database_url
    asyncio.run(publish(bootstrap, stream.state_records(town)))
    asyncio.run(publish(bootstrap, residents + presence))
    worker = start_worker(
        CIVICGRID_OCCURRED_AT_MAX_AGE_DAYS="800",  # the town's 18 months and more: a backfill
        CIVICGRID_HOUSEHOLD_QUIET_SECONDS="1",
    )
    worker.wait_ready()

    # the stream settles on the pure rules' findings, each an L0103 case dispatched to the
    # police; a pass in the middle of the backfill may raise a finding on evidence still
    # arriving, which a later pass withdraws (its case cancelled), so the raised set is awaited
    want = {fid: f.kind.value for fid, f in expected.items()}  # type: ignore[attr-defined]
    raised_sql = "SELECT finding_id, kind FROM household_finding_state WHERE raised"
    deadline = time.monotonic() + 180
    while True:
        states = asyncio.run(fetch(url, raised_sql))
        found = {r["finding_id"]: r["kind"] for r in states}
        if found == want or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert found == want
    cases_sql = "SELECT count(*) FROM cases WHERE category = 'L0103' AND state = 'DISPATCHED'"
    assert asyncio.run(wait_until(url, cases_sql, len(expected))) == len(expected)
    linked = asyncio.run(
        fetch(
            url,
            "SELECT h.finding_id, c.case_id, c.grid_id, c.data->>'code' AS code FROM "
            "household_cases h JOIN cases c USING (case_id)",
        )
    )
    assert set(expected) <= {r["finding_id"] for r in linked}
    assert all(r["code"] == r["finding_id"] for r in linked)  # the case's key is the finding's
    tasks = asyncio.run(read_topic(bootstrap, topics.DISPATCH_NETWORK.name, len(expected)))
    assert len(tasks) == len(expected)
    assert {t[1]["lead_department"] for t in tasks} == {"police"}

    # the police station handles one, the street checks it: closed like any case
    settled = [r for r in linked if r["finding_id"] in expected]
    first = sorted(settled, key=lambda r: r["case_id"])[0]["case_id"]
    steps = [
        (stream.POLICE_STATION, "department", "accept"),
        (stream.POLICE_STATION, "department", "handle"),
        (stream.STREET_OPERATOR, "operator", "check_pass"),
    ]
    updates = [(topics.CASE_UPDATES.name, first, _update(first, *step)) for step in steps]
    asyncio.run(publish(bootstrap, updates))
    state = f"SELECT state FROM cases WHERE case_id = '{first}'"
    assert asyncio.run(wait_until(url, state, "CLOSED")) == "CLOSED"

    # new evidence removes a cause: someone registered nowhere is registered where they live
    hasher = KeyedHasher(KEY.encode())
    clear = {hasher.hash(code): code for code in town.residents.keys() | town.sightings.keys()}
    unregistered = next(
        f
        for f in expected.values()
        if f.kind.value == "unregistered"  # type: ignore[attr-defined]
    )
    person = clear[unregistered.subject]  # type: ignore[attr-defined]
    registered = {
        "person_code": person,
        "registrations": [
            {
                "household_id": "HH99999",
                "place_code": unregistered.place_code,  # type: ignore[attr-defined]
                "role": "head",
                "status": "registered",
                "registered_on": today.isoformat(),
            }
        ],
    }
    asyncio.run(publish(bootstrap, [(topics.RESIDENTS.name, person, registered)]))
    withdrawn = "SELECT count(*) FROM household_finding_state WHERE NOT raised"
    assert asyncio.run(wait_until(url, withdrawn, 1, wait_s=60)) == 1
    cancelled = (
        "SELECT count(*) FROM cases WHERE category = 'L0103' AND state = 'CANCELLED' "
        "AND case_id IN (SELECT case_id FROM household_cases WHERE NOT raised)"
    )
    assert asyncio.run(wait_until(url, cancelled, 1)) == 1
    reason = asyncio.run(
        fetchval(
            url,
            "SELECT reason FROM case_history WHERE state = 'CANCELLED' AND reason LIKE "
            "'household finding withdrawn%'",
        )
    )
    assert reason is not None
    assert "unregistered" in reason

    # the evidence is the police station's alone, and every view of it is audited
    api = ApiProcess(
        endpoints, tmp_path / "api", tmp_path / "api.log", {"CIVICGRID_PSEUDONYM_KEY": KEY}
    )
    api.start()
    try:
        for name, role, scope in (
            (stream.POLICE_STATION, "department", "police"),
            (stream.STREET_OPERATOR, "street", stream.STREET),
        ):
            _add_operator(endpoints, name, role, scope)
        api.wait_ready()
        case_id, code = asyncio.run(
            fetch(
                url,
                "SELECT c.case_id, c.case_code FROM household_cases h JOIN cases c "
                "USING (case_id) WHERE h.raised AND c.is_open ORDER BY c.case_id LIMIT 1",
            )
        )[0]
        police = _session(api.url, stream.POLICE_STATION).open(f"{api.url}/console/cases/{code}")
        page = police.read().decode()
        assert "比对发现" in page
        assert "h:" in page  # the subject, masked
        assert "仅对辖区派出所可见" not in page
        street = _session(api.url, stream.STREET_OPERATOR).open(f"{api.url}/console/cases/{code}")
        other = street.read().decode()
        assert "仅对辖区派出所可见" in other
        assert "h:" not in other.split("比对发现", 1)[1].split("办理过程", 1)[0]
    finally:
        api.stop()
    audits = asyncio.run(
        fetch(
            url,
            "SELECT operator_id, case_id FROM console_audit WHERE what = 'view_household_evidence'",
        )
    )
    assert [(a["operator_id"], a["case_id"]) for a in audits] == [(stream.POLICE_STATION, case_id)]

    # every presence offset is accounted for, and no person identifier is in clear
    offsets = f"SELECT count(*) FROM ({ACCOUNTED_OFFSETS}) a WHERE topic = '{topics.PRESENCE.name}'"
    assert asyncio.run(fetchval(url, offsets)) == len(presence)
    tables = (
        "household_persons",
        "household_residents",
        "household_sightings",
        "household_findings",
        "household_finding_state",
        "household_cases",
        "cases",
        "case_history",
        "dispatches",
        "dead_letters",
    )
    for table in tables:
        dump = asyncio.run(fetchval(url, f"SELECT string_agg(t::text, ' ') FROM {table} t"))
        assert not CLEAR_IDS.search(dump or ""), table
    for topic in (
        topics.BY_PERSON.name,
        topics.BY_GRID.name,
        topics.CASES.name,
        topics.DISPATCH_NETWORK.name,
    ):
        for key, value in asyncio.run(read_topic(bootstrap, topic, 10**9, wait_s=3)):
            assert not CLEAR_IDS.search(f"{key!r} {value}"), topic
    log = worker.log_path.read_text(encoding="utf-8", errors="replace")
    assert not CLEAR_IDS.search(log)

    # the station's report: the town's households and people, findings by kind
    households = {
        e.household_id
        for r in town.residents.values()
        for e in r.registrations
        if e.status.value == "registered"
    } | {"HH99999"}
    people = {
        hasher.hash(code)
        for code, r in town.residents.items()
        if any(e.status.value == "registered" for e in r.registrations)
    }
    people |= {hasher.hash(person)}
    people |= {f.subject for f in expected.values() if f.kind.value != "not_a_dwelling"}  # type: ignore[attr-defined]
    report = CliRunner().invoke(
        cli,
        ["households", "report", "--station", stream.POLICE_STATION, "--csv"],
        env={"CIVICGRID_DATABASE_URL": url, "CIVICGRID_DATA_DIR": str(tmp_path / "cli")},
    )
    assert report.exit_code == 0, report.output
    lines = list(csv.DictReader(io.StringIO(report.output)))
    assert {r["households_checked"] for r in lines} == {str(len(households))}
    assert {r["people_checked"] for r in lines} == {str(len(people))}
    by_kind = {r["kind"]: r for r in lines}
    raised_kinds = Counter(f.kind.value for f in expected.values())  # type: ignore[attr-defined]
    assert sum(int(r["findings_raised"]) for r in lines) == len(expected) - 1
    assert by_kind["unregistered"]["findings_withdrawn"] == "1"
    assert by_kind["unregistered"]["cases_cancelled"] == "1"
    assert sum(int(r["cases_closed"]) for r in lines) == 1
    assert sum(int(r["cases_open"]) for r in lines) == len(expected) - 2
    for kind, count in raised_kinds.items():
        standing = int(by_kind[kind]["findings_raised"]) + int(by_kind[kind]["findings_withdrawn"])
        assert standing == count, kind
