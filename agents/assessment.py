"""The leader's assessment timer (量化考核): today's standing, recomputed from Postgres.

Every `assess_seconds` the leader recomputes today, and any earlier day that gained events
since its last run (late events, a replay, the day that just ended), stores the snapshots and
publishes the ones whose figures changed to civic.assessments.v1. The figures are a pure
function of the rows (civicgrid/db/assessment.py), so a recomputation from history gives
the same ones.
"""

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from civicgrid.agents.delivery import send_all
from civicgrid.db.assessment import (
    GridPopulation,
    Period,
    Snapshot,
    assess_day,
    city_population,
    days_with_new_events,
    store,
)
from civicgrid.domain.gridwork import Message
from civicgrid.runtime import Runtime
from civicgrid.schemas.enums import Grade
from civicgrid.schemas.outbound import Assessment, Window
from civicgrid.topics import catalogue as topics

log = logging.getLogger(__name__)

# On start, days that gained events this long ago are recomputed: covers a leader change.
LOOKBACK = timedelta(days=8)
# A batch's events carry the time they were inserted, and commit a little later.
COMMIT_MARGIN = timedelta(minutes=2)


def messages(
    period: Period, snapshots: list[Snapshot], changed: set[tuple[str, str]]
) -> list[Message]:
    """Assessments of the changed subjects that have a score; the contract needs one."""
    out = []
    for s in snapshots:
        if (
            s.score is None
            or s.grade is None
            or (s.subject_kind.value, s.subject_id) not in changed
        ):
            continue
        value = Assessment(
            subject_id=s.subject_id,
            subject_kind=s.subject_kind,
            period=Window(start=period.start, end=period.as_of),
            indicators={k: v for k, v in s.indicators.items() if v is not None},
            score=s.score,
            grade=Grade(s.grade),
        )
        out.append(Message(topics.ASSESSMENTS.name, s.subject_id, value.model_dump_json().encode()))
    return out


async def assess_and_publish(
    app: Any, runtime: Runtime, period: Period, grids: dict[str, GridPopulation]
) -> int:
    """One day: compute, store and publish in one transaction, so a failed send is retried."""
    assert runtime.pool is not None
    async with runtime.pool.acquire() as connection:
        snapshots = await assess_day(connection, period, grids)
        async with connection.transaction():
            changed = await store(connection, period, snapshots)
            out = messages(period, snapshots, changed)
            await send_all(app, out)
    return len(out)


def register(app: Any, runtime: Runtime) -> None:
    since: list[datetime] = []  # the previous run's start, less the commit margin

    @app.timer(interval=runtime.settings.assess_seconds, on_leader=True)
    async def assess() -> None:
        if not runtime.ready.is_set() or runtime.pool is None:
            return
        started = datetime.now(UTC)
        zone = runtime.calendar.zone
        today = started.astimezone(zone).date()
        try:
            watermark = since[-1] if since else started - LOOKBACK
            async with runtime.pool.acquire() as connection:
                days = set(await days_with_new_events(connection, watermark, zone))
            # the day that just ended gets its final standing once
            if watermark.astimezone(zone).date() < today:
                days.add(today - timedelta(days=1))
            days = {day for day in days if day < today} | {today}
            grids = city_population(runtime.city, runtime.hasher)
            published = 0
            for day in sorted(days):
                published += await assess_and_publish(
                    app, runtime, Period.of(day, runtime.calendar, started), grids
                )
        except Exception:
            log.exception("assessment failed; the next run retries")
            return
        since[:] = [started - COMMIT_MARGIN]
        log.info("assessed", extra={"days": len(days), "published": published})
