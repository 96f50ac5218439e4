"""docker-compose.yml, checked by structure: no Docker engine runs where the suite does."""

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from civicgrid.kafka_connection import KafkaConnection
from civicgrid.settings import env_names, load_settings

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {"kafka", "postgres", "init", "worker", "prometheus", "grafana"}
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
# ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}, ${NAME}
_VARIABLE = re.compile(r"\$\{(\w+)(?:(:?-)([^}]*)|(:?\?)[^}]*)?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def interpolate(value: object) -> str:
    """The value compose would pass with nothing set in the environment or .env."""

    def resolve(match: re.Match[str]) -> str:
        if match.group(4):  # required: the operator supplies it
            return f"test-{match.group(1).lower()}"
        return match.group(3) or ""

    return _VARIABLE.sub(resolve, str(value))


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {name: interpolate(value) for name, value in env.items()}


def test_the_stack_has_every_service(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) >= SERVICES


def test_kafka_runs_the_official_image_in_kraft_mode(services: dict[str, dict[str, Any]]) -> None:
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = environment(kafka)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    assert "CONTROLLER://:9093" in env["KAFKA_LISTENERS"]
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] == "CONTROLLER"
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert env["CLUSTER_ID"]
    assert not any("ZOOKEEPER" in name for name in env)
    # Single broker: internal topics cannot have more than one replica.
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert f"kafka-data:{env['KAFKA_LOG_DIRS']}" in kafka["volumes"]


def test_worker_can_scale(services: dict[str, dict[str, Any]]) -> None:
    worker = services["worker"]
    assert "container_name" not in worker
    assert "hostname" not in worker
    # A fixed host port would let only one replica start; container ports only.
    for port in worker.get("ports", []):
        assert ":" not in str(port), port
    assert "6066" in [str(port) for port in worker.get("expose", [])]
    # Anonymous volumes only: a named one would be shared by every replica.
    for volume in worker.get("volumes", []):
        assert ":" not in volume, volume


def test_worker_environment_is_the_settings_class(services: dict[str, dict[str, Any]]) -> None:
    env = environment(services["worker"])
    assert set(env) <= set(env_names()), set(env) - set(env_names())
    assert env["CIVICGRID_KAFKA_BROKER"] == "kafka:9092"
    assert env["CIVICGRID_DATABASE_URL"] == (
        "postgresql://civicgrid:civicgrid@postgres:5432/civicgrid"
    )
    assert env["CIVICGRID_LOG_FORMAT"] == "json"
    assert env["CIVICGRID_WEB_HOST"] == "0.0.0.0"
    assert env["CIVICGRID_WEB_PORT"] == "6066"
    # Replicas must hash ids with one key, so compose refuses to start without it.
    assert ":?" in services["worker"]["environment"]["CIVICGRID_PSEUDONYM_KEY"]
    assert services["worker"]["command"] == ["civicgrid", "run"]


@pytest.mark.parametrize("name", ["worker", "init", "api"])
def test_environment_is_accepted_by_the_settings(
    services: dict[str, dict[str, Any]], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in env_names():
        monkeypatch.delenv(variable, raising=False)
    for variable, value in environment(services[name]).items():
        monkeypatch.setenv(variable, value)
    settings = load_settings()
    assert settings.kafka_broker == "kafka:9092"
    # one Kafka node: the topics it is asked for must fit on it (3/2 would not)
    kafka = KafkaConnection.from_settings(settings)
    nodes = len(environment(services["kafka"])["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(","))
    assert (kafka.replication_factor, kafka.min_insync_replicas) == (nodes, 1)


def test_database_url_matches_postgres(services: dict[str, dict[str, Any]]) -> None:
    postgres = environment(services["postgres"])
    url = environment(services["worker"])["CIVICGRID_DATABASE_URL"]
    user, password, database = (
        postgres["POSTGRES_USER"],
        postgres["POSTGRES_PASSWORD"],
        postgres["POSTGRES_DB"],
    )
    assert url == f"postgresql://{user}:{password}@postgres:5432/{database}"
    assert "postgres-data:/var/lib/postgresql/data" in services["postgres"]["volumes"]


def test_init_job_migrates_and_creates_topics_once(services: dict[str, dict[str, Any]]) -> None:
    init = services["init"]
    command = " ".join(init["command"])
    assert "civicgrid migrate" in command
    assert "civicgrid topics create" in command
    assert command.index("civicgrid migrate") < command.index("civicgrid topics create")
    assert init["restart"] == "no"
    assert set(environment(init)) <= set(env_names())
    assert init["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert init["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["worker"]["depends_on"]["init"]["condition"] == (
        "service_completed_successfully"
    )


def test_image_is_built_from_the_dockerfile(services: dict[str, dict[str, Any]]) -> None:
    for name in ("init", "worker"):
        assert services[name]["build"] == "."
        assert services[name]["image"] == services["init"]["image"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in dockerfile
    assert "pip install ." in dockerfile
    assert 'CMD ["civicgrid", "run"]' in dockerfile


def test_long_running_services_have_healthchecks(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        if name == "init":
            continue
        check = service.get("healthcheck")
        assert check, f"{name}: no healthcheck"
        assert check["test"][0] in {"CMD", "CMD-SHELL"}, name
        assert {"interval", "timeout", "retries"} <= check.keys(), name
    assert "/health/live" in " ".join(services["worker"]["healthcheck"]["test"])


def test_start_order_waits_on_conditions(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        depends_on = service.get("depends_on", {})
        # The short list form starts dependencies without waiting for them.
        assert isinstance(depends_on, dict), name
        for dependency, spec in depends_on.items():
            assert dependency in services, (name, dependency)
            assert spec["condition"] in CONDITIONS, (name, dependency)
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], (name, dependency)
    assert services["grafana"]["depends_on"]["prometheus"]["condition"] == "service_healthy"
    for dependency in ("kafka", "postgres"):
        assert services["worker"]["depends_on"][dependency]["condition"] == "service_healthy"


def test_volumes_are_declared_and_mounts_exist(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    declared = set(compose.get("volumes", {}))
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source, _, _ = volume.partition(":")
            if not _:
                continue  # anonymous volume
            if source.startswith("."):
                assert (ROOT / source).exists(), (name, source)
            else:
                assert source in declared, (name, source)
    assert "./deploy/prometheus:/etc/prometheus:ro" in services["prometheus"]["volumes"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in services["prometheus"]["command"]
    assert (
        "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro"
        in services["grafana"]["volumes"]
    )


def test_published_ports(services: dict[str, dict[str, Any]]) -> None:
    def published(name: str) -> set[str]:
        return {str(port) for port in services[name].get("ports", [])}

    assert "9090:9090" in published("prometheus")
    assert "3000:3000" in published("grafana")
    # Stores answer on loopback only; the UIs are what operators open.
    assert published("postgres") == {"127.0.0.1:5432:5432"}
    assert published("kafka") == {"127.0.0.1:9094:9094"}
    host_ports = [port.rsplit(":", 2)[-2] for name in services for port in published(name)]
    assert len(host_ports) == len(set(host_ports))


def test_the_api_serves_beside_the_workers(services: dict[str, dict[str, Any]]) -> None:
    api = services["api"]
    assert api["command"] == ["civicgrid", "api"]
    env = environment(api)
    assert env["CIVICGRID_API_HOST"] == "0.0.0.0"
    assert f"{env['CIVICGRID_API_PORT']}:{env['CIVICGRID_API_PORT']}" in api["ports"]
    # one key for workers and API: case-page secrets and intake's check of them must agree
    assert (
        api["environment"]["CIVICGRID_PSEUDONYM_KEY"]
        == (services["worker"]["environment"]["CIVICGRID_PSEUDONYM_KEY"])
    )
    assert "/open311/v2/services.json" in " ".join(api["healthcheck"]["test"])
