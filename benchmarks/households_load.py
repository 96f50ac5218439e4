"""The household reconciliation from an empty database (issue 21): the whole simulated town
(evaluation/households/town.py: ~15,000 households, ~45,000 people, ~1.3 M observations)
through a real worker, then one day's new observations on top.

    python -m benchmarks.households_load [--seed N] [--households N] [--no-check]

Before the worker starts, the town is published (grids, the registry's places, the police
station, every registration and every observation that reached the stream before today,
dated so that the town's evaluation day is today). Timed from the worker's start: ready,
every observation stored, and the reconciliation done (no person dirty, every finding's
case opened). Then the last day's observations are published and timed until they are
reconciled. CPU seconds of the worker come from /proc (the machine is shared: its wall clock
is noisy). With the check (default), the findings the stream raised are compared, by kind,
with the pure rules run on the same records. Prints a markdown section for RESULTS.md.
"""

import argparse
import asyncio
import time
from collections import Counter
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import orjson

from benchmarks.pipeline import cpu_seconds, worker_env
from benchmarks.rss import READY_TIMEOUT_S
from benchmarks.stack import bench_stack
from civicgrid.domain.households import Sighting, reconcile, thresholds_for
from civicgrid.domain.privacy import KeyedHasher, protect_presence, protect_resident
from civicgrid.kafka_clients import producer as kafka_producer
from civicgrid.schemas.inbound import PresenceObservation, ResidentRecord
from civicgrid.topics import catalogue as topics
from evaluation.households import stream
from evaluation.households.town import HOUSEHOLDS, build_town
from tools.workerproc import WorkerProcess

ZONE = ZoneInfo("Asia/Shanghai")
POLL_S = 0.25


async def _publish(bootstrap: str, records: list[stream.Record]) -> float:
    started = time.monotonic()
    producer = kafka_producer(bootstrap, linger_ms=50)
    await producer.start()
    try:
        futures = []
        for topic, key, value in records:
            futures.append(await producer.send(topic, orjson.dumps(value), key=key.encode()))
            if len(futures) >= 20_000:
                await asyncio.gather(*futures)
                futures = []
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return time.monotonic() - started


async def _scalar(url: str, sql: str) -> Any:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchval(sql)
    finally:
        await connection.close()


_STORED = (
    "SELECT (SELECT count(*) FROM household_sightings) + "
    f"(SELECT count(*) FROM duplicate_deliveries WHERE topic = '{topics.PRESENCE.name}') + "
    f"(SELECT count(*) FROM dead_letters WHERE topic = '{topics.PRESENCE.name}')"
)
_DIRTY = "SELECT count(*) FROM household_persons WHERE dirty"
_PERSONS = "SELECT count(*) FROM household_persons"
_RAISED = "SELECT count(*) FROM household_finding_state WHERE raised AND grid_id IS NOT NULL"
_CASES = "SELECT count(*) FROM household_cases WHERE raised AND case_id IS NOT NULL"


async def _until_reconciled(
    url: str, sightings: int, persons: int, since: float, wait_s: float, pid: int
) -> dict[str, float]:
    """Seconds (from `since`) to every sighting stored, and to the reconciliation done, and
    the worker's CPU seconds at each."""
    marks: dict[str, float] = {}
    last = 0.0
    connection = await asyncpg.connect(url)
    try:
        while time.monotonic() - since < wait_s:
            stored = await connection.fetchval(_STORED)
            if time.monotonic() - last > 30:
                last = time.monotonic()
                print(f"  {last - since:.0f} s: {stored:,} of {sightings:,} stored", flush=True)
            if "stored" not in marks and stored >= sightings:
                marks["stored"] = time.monotonic() - since
                marks["stored_cpu"] = cpu_seconds(pid)
            if "stored" in marks:
                known = await connection.fetchval(_PERSONS)
                dirty = await connection.fetchval(_DIRTY)
                raised = await connection.fetchval(_RAISED)
                cases = await connection.fetchval(_CASES)
                if known >= persons and dirty == 0 and cases == raised:
                    marks["reconciled"] = time.monotonic() - since
                    marks["reconciled_cpu"] = cpu_seconds(pid)
                    return marks
            await asyncio.sleep(POLL_S)
    finally:
        await connection.close()
    raise TimeoutError(f"not reconciled in {wait_s:.0f} s: {marks}")


def _pure(
    residents: list[stream.Record],
    presence: list[stream.Record],
    places: dict[str, Any],
    key: str,
) -> Counter[str]:
    hasher = KeyedHasher(key.encode())
    people = {
        r.person_code: r
        for r in (
            protect_resident(ResidentRecord.model_validate_json(orjson.dumps(v)), hasher)
            for *_, v in residents
        )
    }
    seen: dict[str, list[Sighting]] = {}
    for *_, value in presence:
        o = protect_presence(PresenceObservation.model_validate_json(orjson.dumps(value)), hasher)
        seen.setdefault(o.person_code, []).append(Sighting.of(o))
    since = min(s.day for ss in seen.values() for s in ss)
    today = datetime.now(ZONE).date()
    found = reconcile(people, seen, places, today, thresholds_for(stream.CITY), since)
    return Counter(f.kind.value for f in found if f.grid_id is not None)


async def _stream_kinds(url: str) -> Counter[str]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "SELECT kind, count(*) FROM household_finding_state "
            "WHERE raised AND grid_id IS NOT NULL GROUP BY kind"
        )
    finally:
        await connection.close()
    return Counter({str(kind): int(n) for kind, n in rows})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=101)
    parser.add_argument("--households", type=int, default=HOUSEHOLDS)
    parser.add_argument("--timeout", type=float, default=3600.0)
    parser.add_argument("--no-check", action="store_true", help="skip the pure-rules check")
    args = parser.parse_args()

    started = time.monotonic()
    town = build_town(args.seed, households=args.households)
    today = datetime.now(ZONE).date()
    shift = stream.shift_to(today)
    residents = stream.resident_records(town, shift)
    history, fresh = stream.split_last_day(stream.observations(town, shift), today)
    built = time.monotonic() - started
    people = town.people
    print(
        f"town seed {args.seed}: {len(town.grid_of_household):,} households, {people:,} people, "
        f"{len(history):,} + {len(fresh):,} observations, built in {built:.1f} s",
        flush=True,
    )
    env = worker_env() | {
        "CIVICGRID_OCCURRED_AT_MAX_AGE_DAYS": "800",  # 18 months and older records: a backfill
        "CIVICGRID_HOUSEHOLD_QUIET_SECONDS": "1",
    }
    with bench_stack("civicgrid-bench-households-") as bench:
        endpoints = bench.fresh_endpoints("households")
        url = endpoints.database_url
        published = asyncio.run(
            _publish(bench.bootstrap, stream.state_records(town) + residents + history)
        )
        print(
            f"published {len(residents) + len(history):,} records in {published:.1f} s",
            flush=True,
        )
        work = bench.root / "worker"
        worker = WorkerProcess(endpoints, work, bench.root / "worker.log", env)
        start = time.monotonic()
        worker.start()
        try:
            worker.wait_ready(READY_TIMEOUT_S)
            ready = time.monotonic() - start
            assert worker.process is not None
            pid = worker.process.pid
            cpu_ready = cpu_seconds(pid)
            # every person with a registration or an observation before today
            known = len({key for _, key, _ in residents} | {key for _, key, _ in history})
            marks = asyncio.run(
                _until_reconciled(url, len(history), known, start, args.timeout, pid)
            )
            cpu_full = cpu_seconds(pid)
            findings = asyncio.run(_scalar(url, _RAISED))

            t0 = time.monotonic()
            asyncio.run(_publish(bench.bootstrap, fresh))
            fresh_people = len({key for _, key, _ in fresh})
            total = len(history) + len(fresh)
            everyone = len({key for _, key, _ in residents} | {k for _, k, _ in history + fresh})
            inc = asyncio.run(_until_reconciled(url, total, everyone, t0, args.timeout, pid))
            cpu_inc = cpu_seconds(pid) - cpu_full
            findings_after = asyncio.run(_scalar(url, _RAISED))
            stream_kinds = asyncio.run(_stream_kinds(url))
        finally:
            worker.stop()
        log = (bench.root / "worker.log").read_text(errors="replace")
    check = ""
    if not args.no_check:
        pure = _pure(residents, history + fresh, town.places, env["CIVICGRID_PSEUDONYM_KEY"])
        same = "the same" if pure == stream_kinds else "DIFFERENT"
        check = (
            f"\nFindings by kind, stream vs the pure rules on the same records ({same}): "
            + ", ".join(f"{k} {stream_kinds[k]} / {pure[k]}" for k in sorted(pure | stream_kinds))
            + "\n"
        )
    passes = log.count("households reconciled")
    print(
        f"""
## Household reconciliation from an empty database (`python -m benchmarks.households_load`)

Town seed {args.seed} (evaluation/households/town.py): {len(town.grid_of_household):,} households,
{people:,} people, {len(history):,} observations before today and {len(fresh):,} on the last
day; one worker, embedded Tansu and PostgreSQL on the same 2 cores, **shared with other
sessions' work** (wall-clock figures are noisy; CPU seconds from /proc).

| phase | wall s from worker start | worker CPU s |
|---|---|---|
| worker ready (registry of {len(town.places):,} places) | {ready:.1f} | {cpu_ready:.1f} |
| every observation stored | {marks["stored"]:.1f} | {marks["stored_cpu"]:.1f} |
| whole town reconciled, {findings:,} findings, each an L0103 case | \
{marks["reconciled"]:.1f} | {cpu_full:.1f} |

Incremental: the last day's {len(fresh):,} observations ({fresh_people:,} people) stored in
{inc["stored"]:.1f} s and reconciled in {inc["reconciled"]:.1f} s after publishing began,
{cpu_inc:.1f} worker CPU s; findings standing {findings} -> {findings_after}. Reconciliation
passes logged: {passes}.
{check}"""
    )


if __name__ == "__main__":
    main()
