"""The leader's first scoring window on a fresh database, against a real PostgreSQL: a count
from 1899 (stored before the occurred_at window was enforced) must not make it score every
day since then; it starts from the oldest window the intake still accepts."""

import asyncio
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from civicgrid.agents.prediction import score_next
from civicgrid.db.migrate import migrate
from civicgrid.db.pool import create_pool
from civicgrid.domain import scoring
from civicgrid.domain.cityview import CityView
from civicgrid.domain.workcalendar import WorkingCalendar
from civicgrid.schemas.limits import Limits
from civicgrid.topics import catalogue as topics


def test_a_fresh_database_scores_from_the_accepted_window_not_from_1899(
    database_url: str,
) -> None:
    now = datetime.now(UTC)
    recent = scoring.window_start(now - timedelta(days=3))
    ancient = scoring.window_start(datetime(1899, 12, 31, 12, tzinfo=UTC))

    async def run() -> list[datetime]:
        pool = await create_pool(database_url, max_size=2)
        runtime = SimpleNamespace(
            pool=pool, limits=Limits(), city=CityView(), calendar=WorkingCalendar()
        )
        try:
            async with pool.acquire() as connection:
                await migrate(connection)
                await connection.executemany(
                    "INSERT INTO series_counts VALUES ('G1', '06010', $1, $2, 1)",
                    [(scoring.WINDOW_SECONDS, ancient), (scoring.WINDOW_SECONDS, recent)],
                )
                # the grid stage has processed its one partition up to two hours ago
                await connection.execute(
                    "INSERT INTO partition_watermarks (topic, partition, watermark) "
                    "VALUES ($1, 0, $2)",
                    topics.BY_GRID.name,
                    now - timedelta(hours=2),
                )
            # no alert is due (one count, no baseline): nothing is sent through the app
            while await score_next(None, runtime, now, 1):  # type: ignore[arg-type]
                pass
            rows = await pool.fetch("SELECT window_start FROM scored_windows ORDER BY 1")
            return [row[0] for row in rows]
        finally:
            await pool.close()

    scored = asyncio.run(run())
    assert scored[0] == recent  # was 1899-12-31: one window a day for 127 years
    assert len(scored) <= 3
