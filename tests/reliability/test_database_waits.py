"""Database errors to wait out are waited out (issue 16, item 7): a pg_terminate_backend storm
(asyncpg's "cannot switch to state" InternalClientError, AdminShutdownError) and REVOKE
CONNECT (InsufficientPrivilegeError) make the worker unready until PostgreSQL takes it
again; it never exits and never dead-letters a good event. Real worker, real PostgreSQL."""

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from civicgrid.embedded.stack import Endpoints
from tests.support.database import fetchval, unaccounted
from tests.support.kafka import publish_tracked
from tools.city.generate import generate_city
from tools.city.publish import publish_city
from tools.faults import event_stream
from tools.workerproc import WorkerProcess

_QUIET = {"CIVICGRID_SLA_CHECK_SECONDS": "86400", "CIVICGRID_PREDICTION_CHECK_SECONDS": "86400"}


async def _admin(url: str, *statements: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture
def worker_role(endpoints: Endpoints) -> Iterator[tuple[str, str]]:
    """A login role with the worker's privileges and no more: a superuser ignores REVOKE
    CONNECT, a deployment's worker role does not. Yields (role, its URL)."""
    role = f"cg_worker_{uuid.uuid4().hex[:8]}"
    url = endpoints.database_url
    database = urlsplit(url).path.lstrip("/")
    asyncio.run(
        _admin(
            url,
            f"CREATE ROLE {role} LOGIN",
            f"GRANT USAGE, CREATE ON SCHEMA public TO {role}",
            f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}",
            f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role}",
        )
    )
    parts = urlsplit(url)
    yield role, urlunsplit(parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port}"))
    asyncio.run(
        _admin(
            url,
            f'GRANT CONNECT ON DATABASE "{database}" TO PUBLIC',
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'",
            f"DROP OWNED BY {role}",
            f"DROP ROLE {role}",
        )
    )


def _kill_backends(url: str, role: str) -> str:
    return f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'"


def _statuses(worker: WorkerProcess, seconds: float, until: int | None = None) -> set[int | None]:
    """The readiness answers seen for `seconds` (or until the answer is `until`)."""
    seen = set()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status = worker.health()
        seen.add(status)
        if status == until:
            break
        time.sleep(0.25)
    return seen


def test_backend_kills_and_revoke_connect_are_waited_out(
    endpoints: Endpoints,
    worker_role: tuple[str, str],
    start_worker: Callable[..., WorkerProcess],
) -> None:
    role, role_url = worker_role
    url, bootstrap = endpoints.database_url, endpoints.kafka_bootstrap
    database = urlsplit(url).path.lstrip("/")
    city = generate_city("demo", 7)
    asyncio.run(publish_city(bootstrap, city, progress=False))
    records = event_stream(city, 1500, seed=23)
    worker = start_worker(CIVICGRID_DATABASE_URL=role_url, **_QUIET)
    worker.wait_ready()

    async def storm() -> set[tuple[str, int, int]]:
        """Publish in slices while every backend of the worker is killed every 100 ms."""
        published: set[tuple[str, int, int]] = set()
        connection = await asyncpg.connect(url)
        try:
            for start in range(0, 900, 100):
                published |= await publish_tracked(bootstrap, records[start : start + 100])
                for _ in range(4):
                    await connection.execute(_kill_backends(url, role))
                    await asyncio.sleep(0.1)
        finally:
            await connection.close()
        return published

    published = asyncio.run(storm())
    assert asyncio.run(unaccounted(url, published, wait_s=90)) == set()
    assert worker.process is not None
    assert worker.process.poll() is None, "the worker exited in the storm"

    # REVOKE CONNECT, then the live connections cut: every reconnect is refused (42501)
    asyncio.run(
        _admin(
            url, f'REVOKE CONNECT ON DATABASE "{database}" FROM PUBLIC', _kill_backends(url, role)
        )
    )
    published |= asyncio.run(publish_tracked(bootstrap, records[900:]))
    # the probe runs every 2 s: unready by then, and unready all the while after
    assert 503 in _statuses(worker, 10.0, until=503)
    seen = _statuses(worker, 4.0)
    assert seen == {503}, f"readiness while refused: {seen}"
    assert worker.process.poll() is None, "the worker exited while refused"
    asyncio.run(_admin(url, f'GRANT CONNECT ON DATABASE "{database}" TO PUBLIC'))

    worker.wait_ready(60)
    assert asyncio.run(unaccounted(url, published, wait_s=90)) == set()
    # good events only: none of them may be a dead letter for the connection's sake
    assert asyncio.run(fetchval(url, "SELECT count(*) FROM dead_letters")) == 0
    assert worker.process.poll() is None
