"""Short versions of the `make chaos` scenarios (tools/faults.py holds the one
implementation): the same small stream is played twice without faults, then once per fault,
and what PostgreSQL holds is compared case by case."""

import asyncio
from pathlib import Path

import pytest

from tools.faults import Fault, Outcome, Plan, Reference, Stream, reference_runs, run_scenario

SHORT = Plan(events=3000, kills=2, postgres_down_s=5.0, drain_s=60.0)


@pytest.fixture(scope="module")
def stream() -> Stream:
    return Stream.make(SHORT)


@pytest.fixture(scope="module")
def reference(stream: Stream, tmp_path_factory: pytest.TempPathFactory) -> Reference:
    return asyncio.run(reference_runs(stream, SHORT, tmp_path_factory.mktemp("chaos"), print))


def run(fault: Fault, stream: Stream, reference: Reference, tmp_path: Path) -> Outcome:
    outcome = asyncio.run(run_scenario(fault, SHORT, tmp_path, print, stream, reference))
    # the whole stream reached PostgreSQL, once, as in the runs without faults, and every
    # case holding the same reports as a reference case has the same content
    assert outcome.problems() == []
    assert outcome.faulted.accounted == outcome.faulted.published == SHORT.events
    assert outcome.faulted.event_rows == reference.tally.event_rows > 0
    assert outcome.cases.same > 0
    return outcome


@pytest.mark.timeout(120)
def test_worker_killed_twice_mid_stream_loses_and_repeats_nothing(
    stream: Stream, reference: Reference, tmp_path: Path
) -> None:
    run(Fault.WORKER_KILLS, stream, reference, tmp_path)


@pytest.mark.timeout(120)
def test_postgres_down_pauses_reports_unready_and_resumes(
    stream: Stream, reference: Reference, tmp_path: Path
) -> None:
    outcome = run(Fault.POSTGRES_DOWN, stream, reference, tmp_path)
    # the scenario itself fails unless readiness answered 503 during the outage
    assert any("503" in note for note in outcome.notes)


@pytest.mark.timeout(120)
def test_survivor_takes_over_a_killed_workers_partitions(
    stream: Stream, reference: Reference, tmp_path: Path
) -> None:
    outcome = run(Fault.FAILOVER, stream, reference, tmp_path)
    assert outcome.workers_up == 1
