"""`civicgrid city generate|load` and `civicgrid simulate`: the synthetic city and its load."""

import asyncio
import json
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, get_args

import click

from civicgrid.cli.common import echo_err, settings_or_exit
from civicgrid.kafka_admin import create_topics
from civicgrid.kafka_connection import KafkaConfigError, KafkaConnection
from civicgrid.settings import Settings
from tools.city.anomalies import ANOMALY_KINDS, AnomalyKind, plan_anomalies
from tools.city.generate import Scale, generate_city
from tools.city.model import City
from tools.city.publish import publish_city, run_simulation
from tools.city.simulate import CitySimulator

_TAIZHOU_TZ = timezone(timedelta(hours=8))
_scale = click.option(
    "--scale", type=click.Choice(get_args(Scale)), default="demo", show_default=True
)
_seed = click.option("--seed", type=int, default=7, show_default=True)
_bootstrap = click.option(
    "--bootstrap",
    envvar="CIVICGRID_KAFKA_BROKER",
    metavar="HOST:PORT",
    help="Kafka bootstrap server [env CIVICGRID_KAFKA_BROKER]; required, see below.",
)
_NO_BROKER = (
    "no broker: give --bootstrap HOST:PORT or set CIVICGRID_KAFKA_BROKER. This command does "
    "not start an embedded broker: it keeps its records in memory and would stop, records "
    "and all, when the command exits. Point it at the broker of a running `civicgrid run` "
    "(it prints `broker HOST:PORT` at start) or at a configured Kafka."
)


def _broker(settings: Settings, bootstrap: str | None) -> KafkaConnection:
    """The broker given, reached as the `CIVICGRID_KAFKA_*` settings say (TLS, SASL)."""
    if not bootstrap:
        raise click.UsageError(_NO_BROKER)
    try:
        return KafkaConnection.from_settings(
            settings.model_copy(update={"kafka_broker": bootstrap})
        )
    except KafkaConfigError as error:
        raise click.ClickException(str(error)) from None


@click.group("city")
def city_group() -> None:
    """The synthetic city: grids, codes and grid workers."""


@city_group.command("generate")
@_scale
@_seed
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Summary JSON.")
def generate_command(scale: Scale, seed: int, out: Path | None) -> None:
    """Generate the city and print its counts (codes are counted, not built)."""
    echo_err(f"generating the {scale} city (seed {seed})")
    started = time.monotonic()
    city = generate_city(scale, seed)
    echo_err(
        f"generated {len(city.grids):,} grids and {city.code_total:,} codes "
        f"in {time.monotonic() - started:.1f} s"
    )
    summary = city_summary(city)
    text = json.dumps(summary, ensure_ascii=False, indent=2)
    if out:
        out.write_text(text + "\n", encoding="utf-8")
    click.echo(text)


@city_group.command("load")
@_scale
@_seed
@_bootstrap
def load_command(scale: Scale, seed: int, bootstrap: str | None) -> None:
    """Publish the grids to civic.grids.v1 and the codes to civic.registry.v1.

    Needs a broker that outlives the command: --bootstrap or CIVICGRID_KAFKA_BROKER, e.g.
    the embedded one a running `civicgrid run` prints, or Kafka. Missing topics are
    created first (compacted, as `civicgrid run` would), and a progress bar is shown on
    stderr. Workers already running pick the records up as they arrive.
    """
    settings = settings_or_exit()
    kafka = _broker(settings, bootstrap)
    city = generate_city(scale, seed)
    started = time.monotonic()
    # Publishing first would let the broker auto-create the state topics uncompacted.
    asyncio.run(create_topics(kafka, settings.partitions))
    sent = asyncio.run(publish_city(kafka, city))
    echo_err(f"loaded in {time.monotonic() - started:.1f} s")
    click.echo(f"published {sent:,} records ({len(city.grids):,} grids) to {kafka}")


@click.command("simulate")
@_bootstrap
@_scale
@_seed
@click.option("--rate", type=float, default=20.0, show_default=True, help="Events per second.")
@click.option("--duration", type=float, default=60.0, show_default=True, help="Seconds.")
@click.option(
    "--acceleration",
    type=float,
    default=60.0,
    show_default=True,
    help="Simulated seconds per real second.",
)
@click.option(
    "--anomalies",
    default="",
    metavar="KINDS",
    help=f"Comma-separated anomalies to inject: {','.join(ANOMALY_KINDS)}.",
)
@click.option("--ground-truth", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--departments/--no-departments", default=True, show_default=True)
def simulate_command(
    bootstrap: str | None,
    scale: Scale,
    seed: int,
    rate: float,
    duration: float,
    acceleration: float,
    anomalies: str,
    ground_truth: Path | None,
    departments: bool,
) -> None:
    """Residents, grid workers and departments acting in real time against Kafka."""
    kafka = _broker(settings_or_exit(), bootstrap)
    if rate <= 0 or duration <= 0 or acceleration <= 0:
        raise click.BadParameter("rate, duration and acceleration must be positive")
    kinds = _anomaly_kinds(anomalies)
    city = generate_city(scale, seed)
    start = datetime.now(_TAIZHOU_TZ).replace(microsecond=0)
    planned = plan_anomalies(
        city, kinds, seed, start, rate=rate, duration_s=duration, acceleration=acceleration
    )
    simulator = CitySimulator(city, seed, start, acceleration, planned)
    if ground_truth:
        simulator.write_ground_truth(ground_truth)
    stats = asyncio.run(run_simulation(kafka, simulator, rate, duration, departments))
    click.echo(
        json.dumps(
            {
                "sent": dict(stats.sent),
                "dispatches": stats.dispatches,
                "bad_dispatches": stats.bad_dispatches,
                "updates_not_due": stats.updates_not_due,
                "send_errors": stats.send_errors,
                "anomalies": [a.to_record() for a in planned],
            },
            ensure_ascii=False,
            indent=2,
        )
    )


def city_summary(city: City) -> dict[str, Any]:
    kinds: Counter[str] = Counter()
    for counts in city.code_counts.values():
        kinds.update(counts)
    return {
        "scale": city.scale,
        "seed": city.seed,
        "districts": len({g.district for g in city.grids}),
        "streets": len({(g.district, g.street) for g in city.grids}),
        "communities": len({(g.street, g.community) for g in city.grids}),
        "grids": len(city.grids),
        "workers": len(city.workers),
        "households": sum(g.households for g in city.grids),
        "codes": city.code_total,
        "codes_by_kind": dict(kinds.most_common()),
    }


def _anomaly_kinds(text: str) -> list[AnomalyKind]:
    kinds: list[AnomalyKind] = []
    for word in filter(None, (w.strip() for w in text.split(","))):
        if word not in ANOMALY_KINDS:
            raise click.BadParameter(f"{word!r} is not one of {', '.join(ANOMALY_KINDS)}")
        kinds.append(word)
    return kinds
