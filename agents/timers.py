"""Timers of the leader worker: SLA deadlines and the open-case gauges.

Deadlines are not fired here: the leader publishes a tick for every grid with a timer due,
and the grid stage, which owns that grid's partition, applies it in order with the grid's
other events. A case records each timer it fired, so a tick that comes twice fires nothing.
"""

import logging
from datetime import UTC, datetime
from typing import Any

from civicgrid import metrics
from civicgrid.agents.delivery import send_all
from civicgrid.db.queries import grids_with_timers_due
from civicgrid.domain.timers import tick_messages
from civicgrid.runtime import Runtime

log = logging.getLogger(__name__)


def register(app: Any, runtime: Runtime) -> None:
    settings = runtime.settings

    @app.timer(interval=settings.sla_check_seconds, on_leader=True)
    async def sla_ticks() -> None:
        if not runtime.ready.is_set() or runtime.pool is None:
            return
        now = datetime.now(UTC)
        try:
            async with runtime.pool.acquire() as connection:
                grids = await grids_with_timers_due(connection, now)
            await send_all(app, tick_messages(grids, now))
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
