"""`civicgrid api` (Open311 and the resident's case page) and `civicgrid apikey`."""

import asyncio
import logging
import socket

import asyncpg
import click
import uvicorn

from civicgrid.api.app import ApiConfig, create_app
from civicgrid.cli.common import database, echo_err, settings_or_exit, stack
from civicgrid.db import public
from civicgrid.domain.taxonomy import Taxonomy
from civicgrid.runtime import pseudonym_key

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
                kafka_bootstrap=endpoints.kafka_bootstrap,
                taxonomy=Taxonomy.load(settings.taxonomy_overrides),
                zone=settings.zone,
                link_key=pseudonym_key(settings),
                requests_per_minute=settings.api_requests_per_minute,
                public_url=settings.api_public_url or url,
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
