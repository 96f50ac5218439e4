"""After `civicgrid demo`, no ID-card or mobile number and no reporter id is in clear anywhere:
in any column of any table of its database or in any record of any topic it writes.

The demo stops the services it starts, so it is pointed at the test's own broker and database
(CIVICGRID_KAFKA_BROKER / CIVICGRID_DATABASE_URL, SPEC §9): the same command, with everything
it leaves behind still there to scan. Its simulated residents write phone and ID-card numbers
into their reports in the forms people use, so the scan has real personal data to miss.
"""

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from civicgrid.topics import catalogue as topics
from tests.support.database import fetchval
from tests.support.intake import leaks as personal_numbers_in

_REPORTER_ID = re.compile(r"R-\d{8}")  # the simulator's resident ids (tools/city/simulate.py)
_MASKED = re.compile(r"[0-9]{3,4}\*{4,}[0-9]{4}")


def leaks(text: str) -> list[str]:
    """Personal numbers or reporter ids in clear in `text`."""
    found = _REPORTER_ID.findall(text)
    if personal_numbers_in(text):
        found.append(text)
    return found


async def scan_tables(url: str) -> dict[str, tuple[int, list[str]]]:
    """Every row of every table, as text: {table: (rows, leaks)}."""
    connection = await asyncpg.connect(url)
    try:
        names = [
            row[0]
            for row in await connection.fetch(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
            )
        ]
        found = {}
        for name in names:
            rows = await connection.fetch(f'SELECT t::text FROM "{name}" t')
            found[name] = (len(rows), [leak for row in rows for leak in leaks(row[0])])
        return found
    finally:
        await connection.close()


async def scan_topic(bootstrap: str, topic: str) -> tuple[int, list[str]]:
    """Every record of a topic, key and value: (records, leaks)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, fetch_max_wait_ms=50)
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        count, found, idle = 0, [], 0
        # Tansu's end offsets are wrong (GROUND.md): read until fetches come back empty.
        while idle < 5:
            batches = await consumer.getmany(timeout_ms=300, max_records=5000)
            idle = 0 if batches else idle + 1
            for records in batches.values():
                for record in records:
                    count += 1
                    for part in (record.key, record.value):
                        found.extend(leaks((part or b"").decode("utf-8", "surrogateescape")))
        return count, found
    finally:
        await consumer.stop()


def civicgrid(
    args: list[str], env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "civicgrid", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_nothing_personal_in_clear_after_the_demo(
    broker: str, database_url: str, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "CIVICGRID_KAFKA_BROKER": broker,
        "CIVICGRID_KAFKA_TANSU": "true",  # the fixture's broker: Tansu's client tuning
        "CIVICGRID_DATABASE_URL": database_url,
        "CIVICGRID_DATA_DIR": str(tmp_path / "demo"),
    }
    demo = subprocess.run(
        [sys.executable, "-m", "tools", "demo", "--events", "600"],
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    assert demo.returncode == 0, demo.stderr[-3000:]

    tables = asyncio.run(scan_tables(database_url))
    assert tables["events"][0] >= 600
    assert {name: found[:3] for name, (_, found) in tables.items() if found} == {}
    # Not vacuous: the residents' numbers reached Postgres, masked.
    masked = asyncio.run(
        fetchval(database_url, "SELECT count(*) FROM events WHERE payload::text ~ '\\*{4}'")
    )
    assert masked > 0

    written = [spec.name for spec in topics.CATALOGUE if spec.direction != "in"]
    scanned = {name: asyncio.run(scan_topic(broker, name)) for name in written}
    assert scanned[topics.CASES.name][0] > 0
    assert scanned[topics.DEADLETTER.name][0] > 0
    assert {name: found[:3] for name, (_, found) in scanned.items() if found} == {}

    # `civicgrid topics list` against the same broker: every topic of the catalogue, with the
    # cases the demo wrote counted.
    listing = civicgrid(["topics", "list"], env, timeout=120)
    assert listing.returncode == 0, listing.stderr[-3000:]
    lines = {line.split()[0]: line.split() for line in listing.stdout.splitlines()[1:]}
    assert set(lines) == {spec.name for spec in topics.CATALOGUE}
    assert int(lines[topics.CASES.name][3]) > 0
    assert lines[topics.REGISTRY.name][4] == "yes"
