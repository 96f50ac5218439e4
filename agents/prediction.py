"""Early warning on the leader: alerts while a window counts, scores it once closed (SPEC §7).

The grid stage counts reports into ``series_counts`` in its own transactions. A window
closes when the event-time watermark (the latest event time, never ahead of the clock, minus
the grace period) passes its end. Each closed window is scored in one transaction: read its
counts, every series' baseline and the alerts it raised early, score (pure,
``civicgrid.domain.scoring``), write the new baselines, the alerts and the window's
``scored_windows`` row, publish and wait for the broker, commit. A crash before the commit
scores the window again: the same alert ids, so Postgres holds each alert once and the topic
may repeat one (at-least-once, as for cases). A report later than the grace period still
counts in its window's row but not in the alert.

Between closes, each check also looks at the next window to be scored while it still counts:
a series or zone already over the bar of the whole window alerts at once, in the same kind of
transaction (without learning). The ``alerts`` rows of the window are what it has raised: read
back on every check and at close, they keep an alert from repeating, across restarts too.
"""

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg

from civicgrid import metrics
from civicgrid.agents.delivery import send_all
from civicgrid.db.sink import write_plan
from civicgrid.domain import scoring
from civicgrid.domain.alerts import Alert as EarlyAlert
from civicgrid.domain.gridwork import (
    BatchPlan,
    Message,
    add_alert,
    by_grid_messages,
    watermark_messages,
)
from civicgrid.runtime import Runtime
from civicgrid.schemas.enums import AlertKind
from civicgrid.schemas.internal import GridEnvelope
from civicgrid.topics import catalogue as topics

log = logging.getLogger(__name__)

# two leaders overlapping during a rebalance must not score the same window together
_LOCK_KEY = 0x70726564  # "pred"


def cluster_messages(clusters: Iterable[tuple[Sequence[str], str]], now: datetime) -> list[Message]:
    """One ``cluster`` envelope per grid of each (grid_ids, category) cluster, to the grid
    stage that owns the grid's cases: it lifts the category's open grid matters onto the
    network (a matter already there stays where it is)."""
    return by_grid_messages(
        GridEnvelope(
            kind="cluster", grid_id=grid_id, grid_ids=tuple(grid_ids), category=category, now=now
        )
        for grid_ids, category in clusters
        for grid_id in grid_ids
    )


def first_window(runtime: Runtime, now: datetime) -> datetime:
    """The oldest window a fresh database scores: the one holding the oldest `occurred_at`
    the intake accepts. Counts from before it (stored before the window was enforced) are
    not scored: on a fresh database the leader once scored every day since 1899."""
    return scoring.window_start(now - runtime.limits.max_age)


async def _next_start(
    connection: asyncpg.Connection, first: datetime
) -> tuple[datetime | None, dict[str, Any]]:
    """The start of the oldest window not yet scored (None before any count from `first`
    on), and the episode memory its scoring starts from."""
    size = scoring.WINDOW_SECONDS
    last = await connection.fetchrow(
        "SELECT window_end, state FROM scored_windows WHERE window_seconds = $1 "
        "ORDER BY window_start DESC LIMIT 1",
        size,
    )
    if last is not None:
        return last["window_end"], dict(last["state"])
    start = await connection.fetchval(
        "SELECT min(window_start) FROM series_counts WHERE window_seconds = $1 "
        "AND window_start >= $2",
        size,
        first,
    )
    return start, scoring.first_memory()


async def _progress(connection: asyncpg.Connection, partitions: int) -> scoring.StreamProgress:
    rows = await connection.fetch(
        "SELECT partition, watermark FROM partition_watermarks WHERE topic = $1",
        topics.BY_GRID.name,
    )
    return scoring.progress({r["partition"]: r["watermark"] for r in rows}, partitions)


async def _next_window(
    connection: asyncpg.Connection, now: datetime, partitions: int, first: datetime
) -> tuple[datetime, datetime, dict[str, Any]] | None:
    """The oldest window not yet scored that every partition has been processed past (plus
    the grace), the watermark, and the episode memory."""
    start, memory = await _next_start(connection, first)
    low = (await _progress(connection, partitions)).low
    if start is None or low is None or not scoring.closes(start, low, now):
        return None
    return start, min(low, now) - scoring.GRACE, memory


async def _raised(connection: asyncpg.Connection, start: datetime) -> list[scoring.Raised]:
    """The rate and cluster alerts the window starting at ``start`` has raised so far."""
    rows = await connection.fetch(
        "SELECT kind, grid_ids, category FROM alerts WHERE window_start = $1 "
        "AND window_end = $2 AND kind IN ('rate_anomaly', 'cluster')",
        start,
        start + scoring.WINDOW,
    )
    return [(r["kind"], r["grid_ids"], r["category"]) for r in rows]


async def _publish(
    app: Any,
    runtime: Runtime,
    connection: asyncpg.Connection,
    alerts: list[EarlyAlert],
    lifts: Iterable[tuple[Sequence[str], str]],
    now: datetime,
) -> None:
    """Write the alerts (idempotent on their ids), send them, and send the cluster envelopes
    of the new clusters and of ``lifts``."""
    plan = BatchPlan()
    for alert in alerts:
        add_alert(plan, scoring.alert_id(alert), scoring.outbound(alert))
    clusters = [(a.grid_ids, a.category) for a in alerts if a.kind is AlertKind.CLUSTER]
    plan.messages.extend(cluster_messages([*clusters, *lifts], now))
    await write_plan(connection, plan, {}, runtime.calendar)
    await send_all(app, plan.messages)


async def check_open(app: Any, runtime: Runtime, now: datetime, partitions: int) -> int:
    """Alert what the next window to be scored has earned so far; return how many alerts.

    Only while the stream is live (every partition has processed the latest round of
    watermarks): during a catch-up the partitions stand at different days, and a window's
    counts so far would be one partition's whole day beside another's first hours. Its
    alerts would not be wrong (counts only grow), but which grids an early cluster names
    and which rate anomalies it folds would depend on how the catch-up ran; scored at close
    instead, a catch-up alerts as the same month arriving in real time."""
    assert runtime.pool is not None
    size = scoring.WINDOW_SECONDS
    async with runtime.pool.acquire() as connection, connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
        if not (await _progress(connection, partitions)).live:
            return 0
        start, memory = await _next_start(connection, first_window(runtime, now))
        if start is None:
            return 0
        counts = await _window_counts(connection, start)
        # only series with a count can be over a bar: their baselines are all it needs
        baselines = await connection.fetch(
            "SELECT b.grid_id, b.category, b.state FROM series_baselines b "
            "JOIN series_counts c USING (window_seconds, grid_id, category) "
            "WHERE b.window_seconds = $1 AND c.window_start = $2",
            size,
            start,
        )
        raised = await _raised(connection, start)
        alerts = scoring.check_window(
            _window_inputs(runtime, start, counts, baselines, memory, raised)
        )
        if alerts:
            await _publish(app, runtime, connection, alerts, (), now)
    for alert in alerts:
        metrics.ALERTS.labels(kind=alert.kind.value).inc()
    if alerts:
        log.info(
            "open window alerted", extra={"window_start": start.isoformat(), "alerts": len(alerts)}
        )
    return len(alerts)


def _window_inputs(
    runtime: Runtime,
    start: datetime,
    counts: Sequence[Any],
    baselines: Sequence[Any],
    memory: Mapping[str, Any],
    raised: Sequence[scoring.Raised],
) -> scoring.WindowInputs:
    """The window's inputs from its rows of series_counts and series_baselines."""
    return scoring.WindowInputs(
        start,
        {(r["grid_id"], r["category"]): r["count"] for r in counts},
        {(r["grid_id"], r["category"]): r["state"] for r in baselines},
        memory,
        raised,
        {g: info.neighbours for g, info in runtime.city.grids.items()},
    )


async def _window_counts(connection: asyncpg.Connection, start: datetime) -> list[Any]:
    return list(
        await connection.fetch(
            "SELECT grid_id, category, count FROM series_counts "
            "WHERE window_seconds = $1 AND window_start = $2",
            scoring.WINDOW_SECONDS,
            start,
        )
    )


async def score_next(app: Any, runtime: Runtime, now: datetime, partitions: int) -> bool:
    """Score the oldest closed window, if any; return whether one was scored."""
    assert runtime.pool is not None
    size = scoring.WINDOW_SECONDS
    async with runtime.pool.acquire() as connection, connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
        due = await _next_window(connection, now, partitions, first_window(runtime, now))
        if due is None:
            return False
        start, watermark, memory = due
        counts = await _window_counts(connection, start)
        baselines = await connection.fetch(
            "SELECT grid_id, category, state FROM series_baselines WHERE window_seconds = $1",
            size,
        )
        raised = await _raised(connection, start)
        result = scoring.score_window(
            _window_inputs(runtime, start, counts, baselines, memory, raised)
        )
        await connection.executemany(
            "INSERT INTO series_baselines (grid_id, category, window_seconds, state) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT (window_seconds, grid_id, category) "
            "DO UPDATE SET state = excluded.state",
            [(g, c, size, s) for (g, c), s in result.baselines.items()],
        )
        await connection.execute(
            "INSERT INTO scored_windows (window_seconds, window_start, window_end, watermark, "
            "alerts, state) VALUES ($1, $2, $3, $4, $5, $6)",
            size,
            start,
            start + scoring.WINDOW,
            watermark,
            len(raised) + len(result.alerts),
            result.memory,
        )
        await _publish(app, runtime, connection, result.alerts, result.lifts, now)
    for alert in result.alerts:
        metrics.ALERTS.labels(kind=alert.kind.value).inc()
    extra = {"window_start": start.isoformat(), "alerts": len(result.alerts)}
    log.info("window scored", extra=extra)
    return True


async def send_watermarks(app: Any, runtime: Runtime, now: datetime, partitions: int) -> None:
    """One round of watermarks: the latest event time counted so far (never ahead of the
    clock), to every partition of the by-grid topic."""
    assert runtime.pool is not None
    latest = await runtime.pool.fetchval("SELECT max(occurred_at) FROM events")
    if latest is not None:
        await send_all(app, watermark_messages(partitions, min(latest, now)))


def register(app: Any, runtime: Runtime) -> None:
    @app.timer(interval=runtime.settings.prediction_check_seconds, on_leader=True)
    async def score_windows() -> None:
        if not runtime.ready.is_set() or runtime.pool is None:
            return
        partitions = app.consumer.topic_partitions(topics.BY_GRID.name)
        if not partitions:  # not in the metadata yet
            return
        try:
            # catch up window by window: after an outage every missed day is scored in order
            while await score_next(app, runtime, datetime.now(UTC), partitions):
                pass
            await check_open(app, runtime, datetime.now(UTC), partitions)
            # after the checks: they are live only once every partition has the last round
            await send_watermarks(app, runtime, datetime.now(UTC), partitions)
        except Exception:
            log.exception("scoring windows failed; the next check retries")
