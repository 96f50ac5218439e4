"""HTTP endpoints of a worker: Prometheus metrics, liveness and readiness."""

import asyncio
import logging
from typing import Any

import asyncpg
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from civicgrid import metrics
from civicgrid.errors import Disposition, classify, reason
from civicgrid.runtime import Runtime

# The sink learns that Postgres is down only when it writes, so an idle worker would stay
# ready through an outage; a trivial query this often keeps readiness truthful between
# batches. The timeout bounds a probe against a server that accepts and never answers.
SINK_PROBE_SECONDS = 2.0
SINK_PROBE_TIMEOUT_SECONDS = 3.0
log = logging.getLogger(__name__)


async def sink_reachable(pool: asyncpg.Pool) -> bool:
    """Whether Postgres answers a query through the sink's pool (which reconnects).

    Any failure means no: the probe is a Faust timer, and a timer that raises crashes the
    whole app. A connection killed under the probe (pg_terminate_backend) raised asyncpg's
    InternalClientError, which the old list of "unreachable" errors lacked: the worker
    stopped with every offset unwritten (found by `make chaos`, connection-kills)."""
    try:
        await asyncio.wait_for(pool.fetchval("SELECT 1"), SINK_PROBE_TIMEOUT_SECONDS)
    except Exception as error:
        if classify(error) is not Disposition.RETRY:  # not an outage: say what it was
            log.warning("the sink probe failed", extra={"error": reason(error)})
        return False
    return True


def readiness(app: Any, runtime: Runtime) -> dict[str, bool]:
    """Ready only after the registry is loaded and the partitions are assigned (not in a
    rebalance), while the registry follower reads, while the sink can write, and while no
    stage is stuck retrying (an intake that cannot send is not ready even when PostgreSQL
    answers)."""
    follower = runtime.follower
    checks = {
        "registry_loaded": runtime.ready.is_set(),
        "registry_following": follower is not None and follower.healthy,
        "partitions_assigned": not app.rebalancing and bool(app.consumer.assignment()),
        "sink_writable": runtime.sink_up,
        "stages_flowing": not runtime.stalled,
    }
    metrics.READY.set(int(all(checks.values())))
    return checks


def register(app: Any, runtime: Runtime) -> None:
    @app.timer(interval=SINK_PROBE_SECONDS)
    async def probe_sink() -> None:
        if runtime.pool is None:  # not started yet: readiness says so already
            return
        # A failed write also sets sink_up to 0 (agents/grid_stage.py); a probe that
        # succeeds sets it back as soon as Postgres answers, even before the stage's next
        # retry, because from then on a write can succeed.
        runtime.sink_up = await sink_reachable(runtime.pool)
        metrics.SINK_UP.set(int(runtime.sink_up))

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        readiness(app, runtime)
        return web.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/health/live")
    async def live(web: Any, request: Any) -> Any:
        return web.json({"live": True})

    @app.page("/health/ready")
    async def ready(web: Any, request: Any) -> Any:
        checks = readiness(app, runtime)
        status = 200 if all(checks.values()) else 503
        return web.json({"ready": all(checks.values()), **checks}, status=status)
