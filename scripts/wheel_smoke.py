"""The installed wheel as a service, away from the checkout (run by scripts/wheel-smoke.sh with
the clean venv's Python): one import root and no dev-only module inside, then one report
through `civicgrid run` on the embedded stack until its case is in PostgreSQL."""

import asyncio
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from importlib.metadata import distribution
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaProducer

import civicgrid
from civicgrid.cli.common import prepare
from civicgrid.embedded.process import free_port
from civicgrid.embedded.stack import services
from civicgrid.settings import Settings
from civicgrid.topics import catalogue as topics

DEV_ONLY = ("tools", "agents", "schemas", "topics", "benchmarks", "evaluation", "tests")
GRID = "SMOKE-GRID-1"
LAMP = "SMOKE-LAMP-1"
SQUARE = [[119.90, 32.45], [119.91, 32.45], [119.91, 32.46], [119.90, 32.46], [119.90, 32.45]]


def check_the_wheel() -> None:
    installed = Path(civicgrid.__file__).resolve()
    assert "site-packages" in installed.parts, f"civicgrid imported from {installed}"
    roots = {f.parts[0] for f in distribution("civicgrid").files or [] if f.suffix == ".py"}
    assert roots == {"civicgrid"}, f"import roots in the wheel: {sorted(roots)}"
    for name in DEV_ONLY:
        assert importlib.util.find_spec(name) is None, f"{name} is importable beside the wheel"


async def publish(bootstrap: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        grid = {
            "grid_id": GRID,
            "name": "冒烟第1网格",
            "community": "冒烟社区",
            "street": "冒烟街道",
            "district": "海陵区",
            "city": "泰州市",
            "polygon": SQUARE,
        }
        lamp = {
            "code": LAMP,
            "element_type": "thing",
            "kind": "street_light",
            "grid_id": GRID,
            "lat": 32.455,
            "lon": 119.905,
        }
        report = {
            "event_id": str(uuid.uuid4()),
            "occurred_at": datetime.now(UTC).isoformat(),
            "schema_version": 1,
            "channel": "scan",
            "code": LAMP,
            "description": "这个路灯晚上不亮了，路上很黑",
            "reporter_id": "R-SMOKE-1",
            "reporter_role": "resident",
        }
        for topic, key, value in (
            (topics.GRIDS.name, GRID, grid),
            (topics.REGISTRY.name, LAMP, lamp),
            (topics.REPORTS.name, LAMP, report),
        ):
            await producer.send_and_wait(topic, json.dumps(value).encode(), key=key.encode())
    finally:
        await producer.stop()


async def wait_for_case(url: str, worker: "subprocess.Popen[bytes]", wait_s: float) -> str:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError(f"civicgrid run exited with {worker.returncode}")
        connection = await asyncpg.connect(url)
        try:
            found = await connection.fetchval("SELECT category FROM cases LIMIT 1")
        finally:
            await connection.close()
        if found:
            return str(found)
        await asyncio.sleep(1)
    raise TimeoutError(f"no case within {wait_s:.0f} s")


def main() -> None:
    check_the_wheel()
    data = Path(tempfile.mkdtemp(prefix="civicgrid-smoke-"))
    os.environ["CIVICGRID_DATA_DIR"] = str(data)
    with services(Settings()) as endpoints:
        asyncio.run(prepare(endpoints, partitions=2))
        env = {
            **os.environ,
            **endpoints.environment(),
            "CIVICGRID_WEB_PORT": str(free_port()),
            "CIVICGRID_PSEUDONYM_KEY": "smoke-key-0123456789abcdef",
        }
        civicgrid_command = str(Path(sys.executable).parent / "civicgrid")
        with open(data / "worker.log", "wb") as log:
            worker = subprocess.Popen([civicgrid_command, "run"], env=env, stdout=log, stderr=log)
            try:
                asyncio.run(publish(endpoints.kafka_bootstrap))
                category = asyncio.run(wait_for_case(endpoints.database_url, worker, 180))
            finally:
                worker.terminate()
                worker.wait(60)
    print(f"wheel smoke: the installed worker opened a case of category {category}")


if __name__ == "__main__":
    main()
