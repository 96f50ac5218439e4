"""HTTP endpoints of a worker: Prometheus metrics, liveness and readiness."""

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from civicgrid import metrics
from civicgrid.runtime import Runtime


def readiness(app: Any, runtime: Runtime) -> dict[str, bool]:
    """Ready only after the registry is loaded and the partitions are assigned (not in a
    rebalance), and while the sink can write."""
    checks = {
        "registry_loaded": runtime.ready.is_set(),
        "partitions_assigned": not app.rebalancing and bool(app.consumer.assignment()),
        "sink_writable": runtime.sink_up,
    }
    metrics.READY.set(int(all(checks.values())))
    return checks


def register(app: Any, runtime: Runtime) -> None:
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
