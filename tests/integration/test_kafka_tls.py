"""The worker, the API, the CLI and the publishers through a real TLS hop with CA
verification.

The embedded Tansu speaks plaintext, so Debian's stunnel terminates TLS in front of it
(scripts/ensure-stunnel.sh) and Tansu advertises stunnel's port: every client, the worker's
Faust consumers and producer, its registry follower and state mirror, reaches the broker
only through TLS, verifying a certificate signed by a CA made for this test.
"""

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaConnectionError

from civicgrid.db.queries import COUNT_ACCOUNTED
from civicgrid.embedded.broker import EmbeddedBroker
from civicgrid.embedded.process import free_port
from civicgrid.embedded.stack import Endpoints
from civicgrid.kafka_clients import producer as kafka_producer
from civicgrid.kafka_connection import KafkaConnection
from civicgrid.topics import catalogue as topics
from tests.support.api import ApiProcess
from tests.support.database import fetch, wait_until
from tests.support.events import report
from tests.support.kafka import publish, read_topic
from tests.support.tls import Certificates, TlsTerminator, make_certificates
from tools.city.generate import generate_city
from tools.city.publish import publish_city
from tools.workerproc import WorkerProcess


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[KafkaConnection, TlsTerminator]]:
    certificates = make_certificates(tmp_path / "tls")
    tls_port = free_port()
    broker = EmbeddedBroker(tmp_path / "broker", advertised=f"localhost:{tls_port}")
    broker.start()
    terminator = TlsTerminator(tmp_path / "tls", certificates, broker.port, tls_port)
    try:
        terminator.start()
        kafka = KafkaConnection(f"localhost:{tls_port}", "SSL", ca_file=certificates.ca, tansu=True)
        yield kafka, terminator
    finally:
        terminator.stop()
        broker.stop()


def _environment(kafka: KafkaConnection, certificates: Certificates) -> dict[str, str]:
    return {
        "CIVICGRID_KAFKA_BROKER": kafka.bootstrap,
        "CIVICGRID_KAFKA_SECURITY_PROTOCOL": "SSL",
        "CIVICGRID_KAFKA_SSL_CA_FILE": str(certificates.ca),
        "CIVICGRID_KAFKA_TANSU": "true",
    }


async def _topic_configs(kafka: KafkaConnection, topic: str) -> tuple[int, dict[str, str]]:
    admin = AIOKafkaAdminClient(**kafka.client_options())
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
        replicas = len(described[0]["partitions"][0]["replicas"])
        found = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        configs = {entry[0]: entry[1] for response in found for entry in response.resources[0][4]}
        return replicas, configs
    finally:
        await admin.close()


async def _refused(kafka: KafkaConnection) -> bool:
    producer = kafka_producer(kafka)
    try:
        await producer.start()
    except KafkaConnectionError:
        return True
    finally:
        await producer.stop()
    return False


def test_worker_api_cli_and_publishers_through_tls(
    tls_broker: tuple[KafkaConnection, TlsTerminator], database_url: str, tmp_path: Path
) -> None:
    kafka, terminator = tls_broker
    certificates = terminator.certificates
    secured = _environment(kafka, certificates)

    # The CLI: `civicgrid migrate` creates the topics through TLS, replicated as the
    # settings say (Tansu keeps what it is asked for, so the request is visible).
    subprocess.run(
        [sys.executable, "-m", "civicgrid", "migrate"],
        env={
            **os.environ,
            **secured,
            "CIVICGRID_DATABASE_URL": database_url,
            "CIVICGRID_DATA_DIR": str(tmp_path / "cli"),
            "CIVICGRID_KAFKA_REPLICATION_FACTOR": "3",
            "CIVICGRID_KAFKA_MIN_INSYNC_REPLICAS": "2",
        },
        check=True,
        capture_output=True,
        timeout=120,
    )
    replicas, configs = asyncio.run(_topic_configs(kafka, topics.REPORTS.name))
    assert replicas == 3
    assert configs.get("min.insync.replicas") == "2"

    # A client that trusts another CA, or talks plaintext to the TLS port, gets nowhere.
    assert asyncio.run(
        _refused(KafkaConnection(kafka.bootstrap, "SSL", ca_file=certificates.other_ca))
    )
    assert asyncio.run(_refused(KafkaConnection.plaintext(kafka.bootstrap)))

    city = generate_city("demo", 7)
    asyncio.run(publish_city(kafka, city, progress=False))
    endpoints = Endpoints(kafka, database_url, embedded_kafka=False, embedded_postgres=False)
    env = {**secured, "CIVICGRID_PSEUDONYM_KEY": "test-key-0123456789abcdef"}
    worker = WorkerProcess(endpoints, tmp_path / "worker", tmp_path / "worker.log", env).start()
    api = ApiProcess(endpoints, tmp_path / "api", tmp_path / "api.log", env)
    try:
        api.start()
        api_key = (
            subprocess.run(
                [sys.executable, "-m", "civicgrid", "apikey", "create", "partner-app"],
                env={**os.environ, **endpoints.environment(), **env},
                capture_output=True,
                check=True,
                timeout=60,
            )
            .stdout.decode()
            .strip()
        )
        worker.wait_ready()
        api.wait_ready()
        lamp = next(code for code in city.iter_codes() if code.kind == "street_light")
        filed = api.post(
            "/open311/v2/requests.json",
            {"api_key": api_key, "service_code": "01037", "address_id": lamp.code,
             "description": "门口路灯晚上不亮"},
        )  # fmt: skip
        assert filed.status == 200, filed.text
        cover = next(code for code in city.iter_codes() if code.kind == "manhole_cover")
        records = [
            (topics.REPORTS.name, cover.code, report(cover.code, "小区门口的窨井盖不见了，很危险")),
            (topics.REPORTS.name, "x", b"{broken json"),
        ]
        asyncio.run(publish(kafka, records))
        assert asyncio.run(wait_until(database_url, COUNT_ACCOUNTED, 3)) == 3
        cases = asyncio.run(fetch(database_url, "SELECT category, level FROM cases"))
        # the worker's cases: one from the API's producer, one from ours
        assert sorted((row["category"], row["level"]) for row in cases) == [
            ("01002", "street"),
            ("01037", "grid"),
        ]
        dispatched = asyncio.run(read_topic(kafka, topics.DISPATCH_NETWORK.name, 1))
        assert dispatched[0][1]["category"] == "01002"
    finally:
        api.stop()
        worker.stop()
    # everything above went through stunnel: the worker's clients, the API's, the CLI's, ours
    assert terminator.accepted() >= 5
