"""`civicgrid api` (Open311 and the resident's case page) and `civicgrid apikey`."""

import asyncio
import logging
import socket
import sys

import asyncpg
import click
import uvicorn

from civicgrid.api.app import ApiConfig, create_app
from civicgrid.cli.common import database, echo_err, settings_or_exit, stack
from civicgrid.console.roster import publish_roster_entry
from civicgrid.console.scope import Operator, Role
from civicgrid.console.session import hash_password
from civicgrid.db import public
from civicgrid.db.console import add_operator
from civicgrid.domain.taxonomy import Taxonomy
from civicgrid.kafka_connection import KafkaConnection
from civicgrid.runtime import pseudonym_key
from civicgrid.schemas.enums import Level
from civicgrid.schemas.inbound import ActorRecord

log = logging.getLogger(__name__)


@click.command("api")
def api_command() -> None:
    """Serve Open311 GeoReport v2 and the case pages until SIGINT or SIGTERM."""
    settings = settings_or_exit()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((settings.api_host, settings.api_port))
    host, port = listener.getsockname()[:2]
    url = f"http://{host}:{port}/"
    try:
        with stack(settings) as endpoints:
            config = ApiConfig(
                database_url=endpoints.database_url,
                kafka=endpoints.kafka,
                taxonomy=Taxonomy.load(settings.taxonomy_overrides),
                zone=settings.zone,
                link_key=pseudonym_key(settings),
                requests_per_minute=settings.api_requests_per_minute,
                public_url=settings.api_public_url or url,
                secure_cookies=settings.console_secure_cookies,
                pool_min_size=settings.database_pool_min_size,
                pool_max_size=settings.database_pool_max_size,
            )
            server = uvicorn.Server(
                uvicorn.Config(create_app(config), log_config=None, access_log=False, lifespan="on")
            )
            log.info("api %s (Open311 at %sopen311/v2/, docs at %sdocs)", url, url, url)
            asyncio.run(server.serve(sockets=[listener]))
    except KeyboardInterrupt:
        pass
    log.info("stopped")


@click.group("apikey")
def apikey_group() -> None:
    """Partner apps' Open311 keys."""


@apikey_group.command("create")
@click.argument("name")
def apikey_create(name: str) -> None:
    """Create a key for partner app NAME and print it once (only its hash is kept)."""
    settings = settings_or_exit()
    with database(settings) as url:
        key = asyncio.run(_create_key(url, name))
    echo_err(f"api key for {name} (shown once; keep it secret):")
    click.echo(key)


async def _create_key(url: str, name: str) -> str:
    connection = await asyncpg.connect(url)
    try:
        return await public.create_api_key(connection, name)
    finally:
        await connection.close()


@click.group("operator")
def operator_group() -> None:
    """Operations-console accounts."""


@operator_group.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option(
    "--scope",
    required=True,
    help="the rung's name (district, street or community), the grid worker's id, the "
    "department, or the city's name",
)
@click.option("--password-stdin", is_flag=True, required=True, help="read the password from stdin")
def operator_add(name: str, role: str, scope: str, password_stdin: bool) -> None:
    """Add (or update) console operator NAME. Its case updates are authorised against the
    actor roster: an operator of a rung is published there (with CIVICGRID_KAFKA_BROKER set);
    a grid worker or department account uses the roster entry of the same id."""
    settings = settings_or_exit()
    password = sys.stdin.readline().rstrip("\n")
    try:
        hashed = hash_password(password)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    operator = Operator(name, Role(role), scope)
    with database(settings) as url:
        parents = asyncio.run(_add_operator(url, operator, hashed))
    if settings.kafka_broker and operator.role.rung is not None:
        asyncio.run(
            publish_roster_entry(KafkaConnection.from_settings(settings), operator, parents)
        )
        echo_err(f"operator {name} added; published to {ActorRecord.TOPIC}")
    else:
        echo_err(f"operator {name} added")


_RUNGS = ("district", "street", "community")


async def _add_operator(url: str, operator: Operator, password_hash: str) -> dict[str, str]:
    """Store the account; return the names of the rungs above the operator's own, from the
    state mirror (a street's name is unique only within its district)."""
    connection = await asyncpg.connect(url)
    try:
        parents: dict[str, str] = {}
        rung = operator.role.rung
        if rung is not None and rung is not Level.CITY:
            row = await connection.fetchrow(
                f"SELECT district, street, community FROM mirror_grids WHERE {rung.value} = $1"
                " LIMIT 1",
                operator.scope,
            )
            if row is None:
                raise click.ClickException(
                    f"no grid of the state mirror has {rung.value} {operator.scope!r}"
                    " (has a worker followed civic.grids.v1?)"
                )
            above = _RUNGS[: _RUNGS.index(rung.value)]
            parents = {name: row[name] for name in above}
        await add_operator(connection, operator, password_hash)
        return parents
    finally:
        await connection.close()
