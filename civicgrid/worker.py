"""The worker: the Faust app with civicgrid's agents, timers and endpoints, run until stopped."""

import asyncio
import gc
import logging
import os
import signal
import threading
from typing import Any

import faust
import uvloop

from civicgrid import __version__, metrics, web
from civicgrid.agents import assessment as assessment_agent
from civicgrid.agents import grid_stage, households, intake, lag, prediction, state_letters, timers
from civicgrid.app import create_app
from civicgrid.kafka_connection import KafkaConnection
from civicgrid.runtime import Runtime
from civicgrid.settings import Settings

log = logging.getLogger(__name__)

_GC_YOUNG_THRESHOLD = 50_000
EXIT_STOP_TIMED_OUT = 75  # EX_TEMPFAIL: stopped, but not cleanly; a restart resumes


class _Worker(faust.Worker):
    """Faust's worker with a bounded stop.

    A worker whose broker has gone waited out request timeouts at every step of Faust's
    stop (commit, leave the group, flush the producer) and ignored SIGTERM for over 90 s
    (issue 16, item 6). Past `stop_timeout` it exits at once. That commits nothing: offsets
    are committed only for batches whose effect is written (`agents.delivery.holding`), and
    a batch in flight is read again by the partition's next owner.
    """

    stop_timeout: float = 25.0

    def _schedule_shutdown(self, signum: signal.Signals) -> None:
        if not self._signal_stop_time:
            watchdog = threading.Timer(self.stop_timeout, _stop_timed_out, (self.stop_timeout,))
            watchdog.daemon = True
            watchdog.start()
        super()._schedule_shutdown(signum)


def _stop_timed_out(timeout: float) -> None:
    log.error(
        "stop did not finish in time; exiting without committing further",
        extra={"stop_timeout_s": timeout},
    )
    logging.shutdown()
    os._exit(EXIT_STOP_TIMED_OUT)


def build(settings: Settings, kafka: KafkaConnection, database_url: str) -> tuple[Any, Runtime]:
    app = create_app(settings, kafka)
    runtime = Runtime(settings, kafka, database_url)
    intake.register(app, runtime)
    grid_stage.register(app, runtime)
    households.register(app, runtime)
    timers.register(app, runtime)
    prediction.register(app, runtime)
    assessment_agent.register(app, runtime)
    lag.register(app, runtime)
    state_letters.register(app, runtime)
    web.register(app, runtime)

    @app.task
    async def start_runtime() -> None:
        await runtime.start()
        # The registry, the classifier and the imports are the worker's long-lived heap
        # (about a million objects at Taizhou scale); every full collection would walk them
        # again. Frozen, the collector only looks at what the batches allocate.
        gc.freeze()
        log.info("worker ready", extra={"grids": runtime.city.grid_counts()[0]})

    @app.on_before_shutdown.connect
    async def stop_runtime(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        await runtime.stop()

    metrics.WORKER.info(
        {
            "version": __version__,
            "app_id": settings.app_id,
            "partitions": str(settings.partitions),
        }
    )
    return app, runtime


def run(settings: Settings, kafka: KafkaConnection, database_url: str) -> None:
    """Blocks until SIGINT or SIGTERM; Faust's worker installs the handlers and stops."""
    # A batch allocates hundreds of thousands of short-lived objects; at the default
    # threshold (700) the collector ran ~150 times a second and took ~12 % of the worker's
    # CPU in a saturation run (docs/performance.md).
    gc.set_threshold(_GC_YOUNG_THRESHOLD, 20, 20)
    # Every record crosses the event loop several times (fetch, hand-off, stream, produce,
    # PostgreSQL); uvloop's cheaper callbacks and sockets cut the worker's CPU per event.
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    app, _ = build(settings, kafka, database_url)
    worker = _Worker(
        app,
        loglevel=settings.log_level,
        override_logging=False,
        redirect_stdouts=False,
        quiet=True,
    )
    # Faust's progress spinner writes cursor escapes to stdout even when it is not a
    # terminal, which would break the one-JSON-object-per-line log of a service.
    worker.spinner = None
    worker.stop_timeout = settings.stop_timeout_seconds
    try:
        worker.execute_from_commandline()
    except SystemExit as exit_:
        if exit_.code not in (0, None):
            raise
