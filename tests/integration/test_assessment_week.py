"""Two simulated working days of the demo city through a worker, after a month of fieldwork,
then their assessment: every grid worker gets a graded snapshot per day, every department one
graded or n/a (no valued figure), `civicgrid assess --day D --format csv` recomputes the
stream's figures exactly, and the grades spread out in the order of the diligence the
simulator gave each worker. The full week is benchmarks/assessment_week.py."""

import asyncio
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime, timedelta
from datetime import time as clock
from zoneinfo import ZoneInfo

from civicgrid.db.assessment import COVERAGE_DAYS
from civicgrid.embedded.stack import Endpoints
from tools.city.generate import generate_city
from tools.city.publish import publish_city
from tools.simweek import (
    Week,
    differences,
    diligence_agreement,
    diligence_of_subjects,
    play_week,
    recompute,
    stored_days,
)
from tools.workerproc import WorkerProcess

KEY = "test-key-0123456789abcdef"  # the start_worker fixture's pseudonym key
ZONE = ZoneInfo("Asia/Shanghai")


# A Tuesday and a Wednesday, the same on every run: simulated workers are off at weekends,
# which would grade them on residents' reports alone.
START = date(2026, 11, 17)


def test_two_simulated_days(
    endpoints: Endpoints, start_worker: Callable[..., WorkerProcess]
) -> None:
    city = generate_city("demo", 7)
    asyncio.run(publish_city(endpoints.kafka_bootstrap, city, progress=False))
    # SLA ticks come from the player at simulated moments, not from the wall clock
    # fixed simulated days and a month of fieldwork before them: a backfill, beyond the
    # default occurred_at window
    start_worker(
        CIVICGRID_SLA_CHECK_SECONDS="86400",
        CIVICGRID_ASSESS_SECONDS="1",
        CIVICGRID_OCCURRED_AT_MAX_AGE_DAYS="36500",
    ).wait_ready()
    week = Week(
        start=datetime.combine(START, clock(), ZONE),
        days=2,
        events_per_day=1000.0,
        step=timedelta(hours=2),
        seed=7,
        warmup_days=COVERAGE_DAYS - 1,
    )
    stats = asyncio.run(play_week(endpoints, city, week))
    assert stats.dispatches > 0
    assert stats.tick_stalls == 0
    assert sum(stats.warmup.values()) > 0

    # the leader assesses every second: poll until both days equal their recomputation
    pending = week.dates()
    found: dict[object, list[str]] = {}
    for _ in range(5):
        stored = asyncio.run(stored_days(endpoints.database_url, pending))
        found = {day: differences(recompute(endpoints, day, KEY), stored[day]) for day in pending}
        if not any(found.values()):
            break
    assert found == {day: [] for day in pending}

    grades: Counter[str] = Counter()
    for day, rows in stored.items():
        grid_workers = [r for r in rows.values() if r["subject_kind"] == "grid_worker"]
        assert len(grid_workers) == sum(len(g.worker_ids) for g in city.grids), day
        assert {r["grid_id"] for r in grid_workers} == {g.grid_id for g in city.grids}
        # code coverage always has the grid's codes as its denominator: a worker is graded
        assert all(r["grade"] in {"A", "B", "C", "D", "E"} for r in grid_workers), day
        grades.update(r["grade"] for r in grid_workers)
        # the warm-up filled the 30-day window: two days alone would give about 0.1
        assert min(r["indicators"]["code_coverage"] for r in grid_workers) >= 0.4, day
        departments = [r for r in rows.values() if r["subject_kind"] == "department"]
        assert departments, day
        for r in departments:
            valued = [v for v in r["indicators"].values() if v is not None]
            assert (r["grade"] is None) == (not valued), (day, r["subject_id"])

    # a spread, not one grade for all (B to E on the runs so far), and keener workers score
    # higher: Spearman's rho of diligence and the two days' mean score was 0.59-0.60
    assert len(grades) >= 3, grades
    agreement = diligence_agreement(stored, diligence_of_subjects(city, week.seed, KEY))
    assert agreement.overall is not None
    assert agreement.overall >= 0.45, agreement.overall
