"""`civicgrid demo`: the simulated city end to end, with a summary checked against Postgres."""

import asyncio
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import click

from civicgrid.cli.common import echo_err, settings_or_exit, stack
from civicgrid.domain.privacy import KeyedHasher
from civicgrid.runtime import pseudonym_key
from tools import demo
from tools.city.generate import generate_city
from tools.city.publish import publish_city
from tools.workerproc import ApiProcess, WorkerProcess


@click.command("demo")
@click.option("--events", default=3000, show_default=True, help="Simulated events to publish.")
@click.option("--seed", default=7, show_default=True)
@click.option("--timeout", default=180.0, show_default=True, help="Seconds to wait for processing.")
@click.option(
    "--serve/--no-serve",
    default=None,
    help="Keep the worker and `civicgrid api` running after the summary until Ctrl-C "
    "(default: when run from a terminal).",
)
def demo_command(events: int, seed: int, timeout: float, serve: bool | None) -> None:
    """Run a small simulated city through a real worker and print what happened."""
    settings = settings_or_exit()
    log_path = settings.data_dir.resolve() / "demo-worker.log"
    with stack(settings, fresh=True) as endpoints:
        echo_err(f"broker {endpoints.kafka}; worker log {log_path}")
        baseline = asyncio.run(demo.accounted_now(endpoints.database_url))
        worker = WorkerProcess(endpoints, settings.data_dir, log_path).start()
        try:
            asyncio.run(publish_city(endpoints.kafka, generate_city("demo", seed)))
            worker.wait_ready()
            run = demo.DemoRun()
            started = time.monotonic()
            asyncio.run(demo.publish_events(endpoints.kafka, events, seed, run))
            first = sum(run.published.values())
            asyncio.run(demo.wait_accounted(endpoints.database_url, baseline + first, timeout))
            asyncio.run(demo.answer_dispatches(endpoints.kafka, seed, run, 100_000))
            expected = baseline + sum(run.published.values())
            accounted = asyncio.run(demo.wait_accounted(endpoints.database_url, expected, timeout))
            seconds = time.monotonic() - started
            facts = asyncio.run(demo.summary(endpoints.database_url))
            ok = accounted == expected
            demo.print_summary(run, facts, seconds, ok)
            example = facts["example_case"]
            serving = sys.stdin.isatty() if serve is None else serve
            api = (
                ApiProcess(
                    endpoints,
                    settings.data_dir,
                    settings.data_dir.resolve() / "demo-api.log",
                    port=settings.api_port,
                ).start()
                if serving
                else None
            )
            if api:
                api.wait_ready(60)
            try:
                links = (
                    asyncio.run(
                        demo.demo_links(endpoints, api, KeyedHasher(pseudonym_key(settings)))
                    )
                    if api
                    else [("HTTP API", f"{_program()} api   (Open311 and case pages)")]
                )
                demo.print_next_steps(
                    _program(),
                    example if isinstance(example, str) else None,
                    demo.demo_day(datetime.now(UTC)),
                    settings.data_dir,
                    links,
                )
                if api:
                    echo_err("serving the worker and the API; press Ctrl-C to stop")
                    api.wait()
            except KeyboardInterrupt:
                pass
            finally:
                if api:
                    api.stop()
        finally:
            worker.stop()
    if not ok:
        raise click.ClickException(
            f"{expected - accounted} published records are not accounted for in Postgres"
        )


def _program() -> str:
    """The `civicgrid` command beside this Python (`.venv/bin/civicgrid` under `make demo`), so
    the next commands can be pasted as they are."""
    installed = Path(sys.executable).parent / "civicgrid"
    return str(installed) if installed.exists() else f"{sys.executable} -m civicgrid"
