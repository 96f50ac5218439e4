"""The issue's acceptance run through the real broker, PostgreSQL and a `civicgrid run` worker:
the fuzz corpus (10,000 valid records, 10,000 malformed ones) in, then a replay of the valid
half.

How "processed" and "dead letter" are counted, honestly:

- The corpus's valid events name codes the registry has never seen, grids by id, points and
  case ids of cases that do not exist. Before the run the test publishes the reference data
  a city would have: every code the valid events use is registered (to a grid derived from the
  code), every grid the corpus names is registered, and one grid's polygon covers the
  corpus's lat/lon box. With that state no valid event is `unplaceable` or in an
  `unknown_grid`, so every one of them must land in `events`: processed = 10,000.
- Dead letters are counted as the intake's verdicts: every malformed offset must have exactly
  one dead letter of exactly the kind the corpus expects, 10,000 in all.
- A valid case update naming a case that does not exist (or a step the case's state forbids)
  is processed AND refused by the case machine: it is in `events` and also has an
  `unknown_case` / `rejected_transition` dead letter, or `unauthorised` for a case that exists
  (no actor roster is published: docs/contract.md) (the table rule of docs/architecture.md).
  Those are asserted to be on valid case-update offsets only, and reported separately; they
  are not part of the 10,000 intake dead letters.
- The corpus's events happened in March 2025: replaying them is a backfill, so the worker
  accepts occurred_at up to 100 years back (`CIVICGRID_OCCURRED_AT_MAX_AGE_DAYS`); with the
  default 30 days every one would be an `out_of_window` dead letter.
- The corpus's events happened in March 2025, so every case they open is long overdue: the
  worker's SLA timer would escalate them (new history, dispatch and alert rows) while the
  replay runs, whatever the replay does. The timer is set to an hour, out of the test's way,
  so "a replay adds 0 rows" measures de-duplication alone.
"""

import asyncio
import base64
import time
from collections import Counter
from collections.abc import Callable

import orjson
import pytest

from civicgrid.embedded.stack import Endpoints
from civicgrid.topics import catalogue as topics
from tests.support.intake import (
    Raw,
    alive,
    corpus,
    grid_record,
    leaks,
    metric_sum,
    publish_raw,
    registry_record,
    scrape,
    table_counts,
    wait_for_offsets,
)
from tests.support.kafka import publish, read_topic
from tools.workerproc import WorkerProcess

# the test publishes no actor roster: an update of a case that exists is refused `unauthorised`
CASE_MACHINE_KINDS = {"unknown_case", "rejected_transition", "unauthorised"}
# Corner points (lon, lat) of a grid covering the corpus's box of points (32.4-32.6 N,
# 119.9-120.1 E), as a closed ring.
BOX = [[119.89, 32.39], [120.11, 32.39], [120.11, 32.61], [119.89, 32.61], [119.89, 32.39]]


def reference_state(records: list[Raw]) -> list[tuple[str, str, dict[str, object]]]:
    """The registry and grid records that make every valid corpus event placeable."""
    codes = set()
    for record in records:
        if record.expect == "ok" and record.topic in (topics.SCANS.name, topics.REPORTS.name):
            code = orjson.loads(record.value or b"{}").get("code")
            if code is not None:
                codes.add(code)
    state: list[tuple[str, str, dict[str, object]]] = [
        (topics.GRIDS.name, "GBOX", grid_record("GBOX", polygon=BOX))
    ]
    # the corpus's grids are G0000-G5999 and its codes TZnnnnn
    for number in range(6000):
        state.append((topics.GRIDS.name, f"G{number:04d}", grid_record(f"G{number:04d}")))
    for code in sorted(codes):
        grid_id = f"G{int(code[2:]) % 6000:04d}"
        state.append((topics.REGISTRY.name, code, registry_record(code, grid_id)))
    return state


@pytest.mark.timeout(900)
def test_corpus_through_the_broker_then_a_replay_adds_no_rows(
    endpoints: Endpoints, start_worker: Callable[..., WorkerProcess]
) -> None:
    records = corpus()
    url, bootstrap = endpoints.database_url, endpoints.kafka_bootstrap
    asyncio.run(publish(bootstrap, reference_state(records)))
    worker = start_worker(
        CIVICGRID_SLA_CHECK_SECONDS="3600", CIVICGRID_OCCURRED_AT_MAX_AGE_DAYS="36500"
    )
    worker.wait_ready()

    started = time.monotonic()
    offsets = publish_raw(bootstrap, records)
    found = asyncio.run(wait_for_offsets(url, offsets, wait_s=600))
    first_run_s = time.monotonic() - started

    unaccounted = [o for o in offsets if o not in found]
    wrong: Counter[tuple[str, str]] = Counter()
    letters: Counter[str] = Counter()
    refused_updates = 0
    for record, offset in zip(records, offsets, strict=True):
        went = found.get(offset, set())
        if record.expect == "ok":
            refused = went & CASE_MACHINE_KINDS
            if refused and record.topic == topics.CASE_UPDATES.name and len(refused) == 1:
                refused_updates += 1
                went = went - refused
            if went != {"event"}:
                wrong[("ok", ",".join(sorted(went)))] += 1
        else:
            letters.update(went)
            if went != {record.expect}:
                wrong[(record.expect, ",".join(sorted(went)))] += 1
    counts = asyncio.run(table_counts(url))
    print(
        f"\nfirst run: {first_run_s:.1f} s; processed {counts['events']}; "
        f"intake dead letters {sum(letters.values())} {dict(letters)}; "
        f"case updates refused by the case machine {refused_updates}; "
        f"scan audits {counts['scan_audits']}; unaccounted {len(unaccounted)}"
    )
    assert not unaccounted
    assert not wrong, wrong
    assert counts["events"] == 10_000
    assert sum(letters.values()) == 10_000
    assert letters == Counter(r.expect for r in records if r.expect != "ok")
    assert counts["dead_letters"] == 10_000 + refused_updates
    assert alive(worker)  # 0 crashes

    samples = scrape(worker.port)
    for kind, number in letters.items():
        assert metric_sum(samples, "civicgrid_dead_letters_total", kind=kind) == number

    # The dead-letter topic: one message per dead letter, none with a personal number in clear
    # (the corpus's bad records carry ID-card and mobile numbers, some inside invalid UTF-8).
    published = asyncio.run(read_topic(bootstrap, topics.DEADLETTER.name, counts["dead_letters"]))
    assert len(published) >= counts["dead_letters"]
    for key, letter in published:
        assert not leaks(base64.b64decode(letter["value"] or ""))
        assert not leaks(key)

    # The replay: the same 10,000 valid events again, as a producer retry storm would send them.
    valid = [r for r in records if r.expect == "ok"]
    started = time.monotonic()
    again = publish_raw(bootstrap, valid)
    replayed = asyncio.run(wait_for_offsets(url, again, wait_s=600))
    replay_s = time.monotonic() - started
    after = asyncio.run(table_counts(url))
    added = {t: after[t] - counts[t] for t in counts if after[t] != counts[t]}
    duplicates = metric_sum(scrape(worker.port), "civicgrid_duplicate_events_total")
    print(f"replay: {replay_s:.1f} s; rows added {added}; duplicates counted {duplicates:.0f}")
    assert all(replayed.get(o) == {"duplicate"} for o in again)
    assert added == {"duplicate_deliveries": 10_000}  # the new offsets' accounting, nothing else
    assert duplicates == 10_000
    assert alive(worker)
