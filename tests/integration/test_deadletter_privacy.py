"""Dead letters keep their original without identities in clear (issue 16 item 11), through
a real broker, PostgreSQL and worker: civic.deadletter.v1 carried reporter_id, scanner_id
and worker_id in clear inside the base64 original, and patrol dead letters were keyed by the
worker's id."""

import asyncio
import base64
from collections.abc import Callable

import asyncpg

from civicgrid.domain.privacy import KeyedHasher
from civicgrid.embedded.stack import Endpoints
from civicgrid.topics import catalogue as topics
from tests.support.database import wait_until
from tests.support.events import report
from tests.support.intake import grid_record
from tests.support.kafka import publish, read_topic
from tools.workerproc import WorkerProcess

GRID = "GDL01"
KEY = "test-key-0123456789abcdef"  # the pseudonym key conftest's workers run with
PEOPLE = ("R-王小明-0001", "S-李四-0002", "W-赵六-0003", "A-钱七-0004")


async def _table(url: str) -> list[str]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch("SELECT * FROM dead_letters")
        return [str(dict(row)) for row in rows]
    finally:
        await connection.close()


def test_dead_letters_carry_keyed_hashes_not_identities(
    endpoints: Endpoints, start_worker: Callable[..., WorkerProcess]
) -> None:
    url, bootstrap = endpoints.database_url, endpoints.kafka_bootstrap
    asyncio.run(publish(bootstrap, [(topics.GRIDS.name, GRID, grid_record(GRID))]))
    start_worker().wait_ready()
    reporter, scanner, worker, actor = PEOPLE
    records = [
        # each fails the schema for another field, so each is a dead letter with its original
        (
            topics.REPORTS.name,
            GRID,
            report(None, "电话139 7120 0010", grid_id=GRID, reporter_id=reporter, channel="fax"),
        ),
        (
            topics.SCANS.name,
            "TZ-1",
            {"event_id": "not-a-uuid", "scanner_id": scanner, "code": "TZ-1", "purpose": "x"},
        ),
        (
            topics.PATROLS.name,
            worker,
            b'{"worker_id": "' + worker.encode() + b'", "grid_id": "GDL01", "kind": broken',
        ),
        (
            topics.CASE_UPDATES.name,
            f"{GRID}~1",
            {"case_id": f"{GRID}~1", "actor_id": actor, "actor_kind": "resident"},
        ),
    ]
    asyncio.run(publish(bootstrap, records))
    assert asyncio.run(wait_until(url, "SELECT count(*) FROM dead_letters", 4)) == 4

    letters = asyncio.run(read_topic(bootstrap, topics.DEADLETTER.name, 4))
    assert len(letters) == 4
    hasher = KeyedHasher(KEY.encode())
    by_topic = {}
    for key, letter in letters:
        original = base64.b64decode(letter["value"]).decode()
        by_topic[letter["topic"]] = (key, original)
        for person in PEOPLE:
            assert person not in original, (letter["topic"], original)
            assert key is None or person.encode() not in key
        assert "7120" not in original  # the phone number in the description is masked too
    # an authorised operator holding the pseudonym key finds each person's dead letter
    for topic, person in zip(
        (topics.REPORTS, topics.SCANS, topics.PATROLS, topics.CASE_UPDATES), PEOPLE, strict=True
    ):
        assert hasher.hash(person) in by_topic[topic.name][1]
    patrol_key, _ = by_topic[topics.PATROLS.name]
    assert patrol_key == hasher.hash(worker).encode()  # the key was the worker's id
    for row in asyncio.run(_table(url)):
        for person in PEOPLE:
            assert person not in row
