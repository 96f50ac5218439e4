"""Two simulated days of the demo city through a worker, then their assessment: every grid
worker gets a graded snapshot per day, every department one graded or n/a (no valued
figure), and `civicgrid assess --day D --format csv` recomputes the stream's figures exactly.
The full week is benchmarks/assessment_week.py."""

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from datetime import time as clock
from zoneinfo import ZoneInfo

from civicgrid.city.generate import generate_city
from civicgrid.city.publish import publish_city
from civicgrid.embedded.stack import Endpoints
from civicgrid.simweek import Week, differences, play_week, recompute, stored_days
from civicgrid.workerproc import WorkerProcess

KEY = "test-key-0123456789abcdef"  # the start_worker fixture's pseudonym key
ZONE = ZoneInfo("Asia/Shanghai")


def test_two_simulated_days(
    endpoints: Endpoints, start_worker: Callable[..., WorkerProcess]
) -> None:
    city = generate_city("demo", 7)
    asyncio.run(publish_city(endpoints.kafka_bootstrap, city, progress=False))
    # SLA ticks come from the player at simulated moments, not from the wall clock
    start_worker(CIVICGRID_SLA_CHECK_SECONDS="86400", CIVICGRID_ASSESS_SECONDS="1").wait_ready()
    today = datetime.now(ZONE).date()
    week = Week(
        start=datetime.combine(today - timedelta(days=2), clock(), ZONE),
        days=2,
        events_per_day=300.0,
        step=timedelta(hours=2),
        seed=7,
    )
    stats = asyncio.run(play_week(endpoints, city, week))
    assert stats.dispatches > 0
    assert stats.tick_stalls == 0

    # the leader assesses every second: poll until both days equal their recomputation
    pending = week.dates()
    found: dict[object, list[str]] = {}
    for _ in range(5):
        stored = asyncio.run(stored_days(endpoints.database_url, pending))
        found = {day: differences(recompute(endpoints, day, KEY), stored[day]) for day in pending}
        if not any(found.values()):
            break
    assert found == {day: [] for day in pending}

    for day, rows in stored.items():
        grid_workers = [r for r in rows.values() if r["subject_kind"] == "grid_worker"]
        assert len(grid_workers) == sum(len(g.worker_ids) for g in city.grids), day
        assert {r["grid_id"] for r in grid_workers} == {g.grid_id for g in city.grids}
        # code coverage always has the grid's codes as its denominator: a worker is graded
        assert all(r["grade"] in {"A", "B", "C", "D", "E"} for r in grid_workers), day
        departments = [r for r in rows.values() if r["subject_kind"] == "department"]
        assert departments, day
        for r in departments:
            valued = [v for v in r["indicators"].values() if v is not None]
            assert (r["grade"] is None) == (not valued), (day, r["subject_id"])
