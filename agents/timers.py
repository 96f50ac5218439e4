"""Timers of the leader worker: SLA deadlines and the open-case gauges.

Deadlines are not fired here: the leader publishes a tick for every grid with a timer due,
and the grid stage, which owns that grid's partition, applies it in order with the grid's
other events. A case records each timer it fired, so a tick that comes twice fires nothing.
"""

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from agents.delivery import send_all
from civicgrid import metrics
from civicgrid.domain.gridwork import Message
from civicgrid.runtime import Runtime
from schemas.internal import GridEnvelope
from topics import catalogue as topics

log = logging.getLogger(__name__)


def tick_messages(grid_ids: Iterable[str], now: datetime) -> list[Message]:
    return [
        Message(
            topics.BY_GRID.name,
            grid_id,
            GridEnvelope(kind="tick", grid_id=grid_id, now=now).model_dump_json().encode(),
        )
        for grid_id in sorted(set(grid_ids))
    ]


def register(app: Any, runtime: Runtime) -> None:
    settings = runtime.settings

    @app.timer(interval=settings.sla_check_seconds, on_leader=True)
    async def sla_ticks() -> None:
        if not runtime.ready.is_set() or runtime.pool is None:
            return
        now = datetime.now(UTC)
        try:
            rows = await runtime.pool.fetch(
                "SELECT DISTINCT grid_id FROM cases WHERE is_open AND next_timer_at <= $1", now
            )
            await send_all(app, tick_messages((row[0] for row in rows), now))
        except Exception:
            log.exception("SLA tick failed; the next one retries")

    @app.timer(interval=15.0, on_leader=True)
    async def case_gauges() -> None:
        if not runtime.ready.is_set() or runtime.pool is None:
            return
        try:
            rows = await runtime.pool.fetch(
                "SELECT level, state, count(*) FROM cases WHERE is_open GROUP BY level, state"
            )
            overdue = await runtime.pool.fetchval(
                "SELECT count(*) FROM cases WHERE is_open AND deadline < now()"
            )
        except Exception:
            log.exception("case gauges failed")
            return
        metrics.OPEN_CASES.clear()
        for level, state, count in rows:
            metrics.OPEN_CASES.labels(level=level, state=state).set(count)
        metrics.OVERDUE_CASES.set(overdue)
