"""Early warning on the leader: scores each closed event-time window once (SPEC §7).

The grid stage counts reports into ``series_counts`` in its own transactions. A window
closes when the event-time watermark (the latest event time, never ahead of the clock, minus
the grace period) passes its end. Each closed window is scored in one transaction: read its
counts and every series' baseline, score (pure, ``civicgrid.domain.scoring``), write the new
baselines, the alerts and the window's ``scored_windows`` row, publish and wait for the
broker, commit. A crash before the commit scores the window again: the same alert ids, so
Postgres holds each alert once and the topic may repeat one (at-least-once, as for cases).
A report later than the grace period still counts in its window's row but not in the alert.
"""

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import asyncpg

from agents.delivery import send_all
from civicgrid import metrics
from civicgrid.db.sink import write_plan
from civicgrid.domain import scoring
from civicgrid.domain.alerts import Alert as EarlyAlert
from civicgrid.domain.gridwork import BatchPlan, Message, add_alert
from civicgrid.runtime import Runtime
from schemas.enums import AlertKind
from schemas.internal import GridEnvelope
from topics import catalogue as topics

log = logging.getLogger(__name__)

# two leaders overlapping during a rebalance must not score the same window together
_LOCK_KEY = 0x70726564  # "pred"


def cluster_messages(alerts: Iterable[EarlyAlert], now: datetime) -> list[Message]:
    """One ``cluster`` envelope per grid of each cluster, to the grid stage that owns the
    grid's cases: it lifts the category's open grid matters onto the network."""
    messages: list[Message] = []
    for alert in alerts:
        if alert.kind is not AlertKind.CLUSTER:
            continue
        for grid_id in alert.grid_ids:
            envelope = GridEnvelope(
                kind="cluster",
                grid_id=grid_id,
                grid_ids=alert.grid_ids,
                category=alert.category,
                now=now,
            )
            value = envelope.model_dump_json().encode()
            messages.append(Message(topics.BY_GRID.name, grid_id, value))
    return messages


async def _next_window(
    connection: asyncpg.Connection, now: datetime
) -> tuple[datetime, datetime, dict[str, Any]] | None:
    """The oldest closed window not yet scored, the watermark, and the episode memory."""
    size = scoring.WINDOW_SECONDS
    last = await connection.fetchrow(
        "SELECT window_end, state FROM scored_windows WHERE window_seconds = $1 "
        "ORDER BY window_start DESC LIMIT 1",
        size,
    )
    if last is not None:
        start, memory = last["window_end"], dict(last["state"])
    else:
        start = await connection.fetchval(
            "SELECT min(window_start) FROM series_counts WHERE window_seconds = $1", size
        )
        memory = scoring.first_memory()
    latest = await connection.fetchval("SELECT max(occurred_at) FROM events")
    if start is None or latest is None:
        return None
    # never ahead of the clock: one report stamped in the future must not close today
    watermark: datetime = min(latest, now) - scoring.GRACE
    if start + scoring.WINDOW > watermark:
        return None
    return start, watermark, memory


async def score_next(app: Any, runtime: Runtime, now: datetime) -> bool:
    """Score the oldest closed window, if any; return whether one was scored."""
    assert runtime.pool is not None
    size = scoring.WINDOW_SECONDS
    async with runtime.pool.acquire() as connection, connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
        due = await _next_window(connection, now)
        if due is None:
            return False
        start, watermark, memory = due
        counts = await connection.fetch(
            "SELECT grid_id, category, count FROM series_counts "
            "WHERE window_seconds = $1 AND window_start = $2",
            size,
            start,
        )
        baselines = await connection.fetch(
            "SELECT grid_id, category, state FROM series_baselines WHERE window_seconds = $1",
            size,
        )
        neighbours = {g: info.neighbours for g, info in runtime.city.grids.items()}
        result = scoring.score_window(
            start,
            {(r["grid_id"], r["category"]): r["count"] for r in counts},
            {(r["grid_id"], r["category"]): r["state"] for r in baselines},
            memory,
            neighbours,
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
            len(result.alerts),
            result.memory,
        )
        plan = BatchPlan()
        for alert in result.alerts:
            add_alert(plan, scoring.alert_id(alert), scoring.outbound(alert))
        plan.messages.extend(cluster_messages(result.alerts, now))
        await write_plan(connection, plan, {}, runtime.calendar)
        await send_all(app, plan.messages)
    for alert in result.alerts:
        metrics.ALERTS.labels(kind=alert.kind.value).inc()
    extra = {"window_start": start.isoformat(), "alerts": len(result.alerts)}
    log.info("window scored", extra=extra)
    return True


def register(app: Any, runtime: Runtime) -> None:
    @app.timer(interval=runtime.settings.prediction_check_seconds, on_leader=True)
    async def score_windows() -> None:
        if not runtime.ready.is_set() or runtime.pool is None:
            return
        try:
            # catch up window by window: after an outage every missed day is scored in order
            while await score_next(app, runtime, datetime.now(UTC)):
                pass
        except Exception:
            log.exception("scoring closed windows failed; the next check retries")
