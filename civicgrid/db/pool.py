"""Connections to PostgreSQL: one pool per process, the database created when missing."""

import asyncio
import logging
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
import orjson

log = logging.getLogger(__name__)

_JSONB_VERSION = b"\x01"


async def _init_connection(connection: asyncpg.Connection) -> None:
    # jsonb in and out through orjson, in jsonb's binary form (a version byte, then the JSON
    # text): asyncpg's own handling is text-only, and binary COPY needs a binary encoder
    await connection.set_type_codec(
        "jsonb",
        encoder=lambda value: _JSONB_VERSION + orjson.dumps(value),
        decoder=lambda data: orjson.loads(data[1:]),
        schema="pg_catalog",
        format="binary",
    )


async def ensure_database(url: str) -> None:
    """Create the URL's database if it does not exist (the embedded server starts empty)."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/") or "postgres"
    admin = urlunsplit(parts._replace(path="/postgres"))
    try:
        connection = await asyncpg.connect(url)
        await connection.close()
        return
    except asyncpg.InvalidCatalogNameError:
        pass
    connection = await asyncpg.connect(admin)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    except asyncpg.DuplicateDatabaseError:
        pass
    finally:
        await connection.close()


async def drop_database(url: str) -> None:
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    connection = await asyncpg.connect(urlunsplit(parts._replace(path="/postgres")))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


async def create_pool(url: str, *, min_size: int = 1, max_size: int = 4) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        url, min_size=min_size, max_size=max_size, init=_init_connection, command_timeout=60
    )


async def wait_for_database(url: str, wait_s: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + wait_s
    while True:
        try:
            await ensure_database(url)
            return
        except (OSError, asyncpg.PostgresError) as error:
            if asyncio.get_running_loop().time() > deadline:
                raise ConnectionError(f"PostgreSQL at {_safe(url)} unreachable: {error}") from None
            await asyncio.sleep(0.5)


_SECRET_PARAMETERS = frozenset({"password", "sslpassword"})


def _safe(url: str) -> str:
    """The URL without its passwords (user info, `password=`, `sslpassword=`), for messages;
    `sslmode` and the certificate paths stay, they say how the connection was made."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{parts.username}@{host}" if parts.username else host
    if parts.port:
        netloc += f":{parts.port}"
    query = urlencode(
        [
            (key, "***" if key.lower() in _SECRET_PARAMETERS else value)
            for key, value in parse_qsl(parts.query, keep_blank_values=True)
        ],
        safe="/*",
    )
    return urlunsplit(parts._replace(netloc=netloc, query=query))
