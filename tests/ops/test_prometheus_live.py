"""A real Prometheus scrapes a real worker that has processed events: the target is up, the
key series have values, and every dashboard panel and alert rule is a valid query against it.

The same worker logs as JSON, so its log also shows that `civicgrid run` writes one JSON
object per line, with correlation ids and no personal numbers.
"""

import asyncio
import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from civicgrid.db.queries import COUNT_ACCOUNTED
from civicgrid.domain.privacy import contains_personal_numbers
from civicgrid.embedded.process import free_port
from civicgrid.embedded.stack import Endpoints
from civicgrid.topics import catalogue as topics
from tests.ops.test_dashboard import data_panels
from tests.support.database import wait_until
from tests.support.events import report
from tests.support.kafka import publish
from tools.city.generate import generate_city
from tools.city.publish import publish_city
from tools.workerproc import WorkerProcess

ALERTS = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "alerts.yml"
JOB = "civicgrid-worker"  # the job name of deploy/prometheus/prometheus.yml, which panels name
# Grafana replaces $__rate_interval with at least four scrape intervals; one minute covers
# that at the test's 1 s scrape, and the query is as valid as with Grafana's figure.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h"}

# Series a worker that has processed reports (one of them broken) must have by now:
# inbound, dead letters, classifications, cases by state, stage latency, sink rows, lag.
KEY_SERIES = (
    "civicgrid_events_in_total",
    "civicgrid_dead_letters_total",
    "civicgrid_classifications_total",
    "civicgrid_case_transitions_total",
    "civicgrid_open_cases",
    "civicgrid_stage_latency_seconds_bucket",
    "civicgrid_sink_rows_total",
    "civicgrid_consumer_lag_messages",
    "civicgrid_sink_up",
    "civicgrid_ready",
)


@dataclass
class Prometheus:
    url: str

    def wait_ready(self, process: subprocess.Popen[bytes], log: Path) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert process.poll() is None, f"prometheus exited; see {log}"
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1):
                    return
            except OSError:  # not listening yet, or 503 while it starts
                time.sleep(0.1)
        pytest.fail(f"prometheus not ready in 30 s; see {log}")

    def api(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=5) as r:
                return json.load(r)
        except urllib.error.HTTPError as error:  # a bad query answers 400 with the reason
            return json.load(error)

    def query(self, expr: str) -> list[dict[str, Any]]:
        answer = self.api("query", query=expr)
        assert answer["status"] == "success", f"{expr!r}: {answer.get('error')}"
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def wait_for(self, expr: str, wait_s: float = 60.0) -> list[dict[str, Any]]:
        """Poll until `expr` has at least one sample; return the last answer either way."""
        deadline = time.monotonic() + wait_s
        result = self.query(expr)
        while not result and time.monotonic() < deadline:
            time.sleep(0.5)
            result = self.query(expr)
        return result


def prometheus_binary() -> str:
    path = shutil.which("prometheus")
    if path is None:
        pytest.fail("prometheus is missing: run scripts/ensure-prometheus.sh (as root)")
    return path


@pytest.fixture
def scrape(tmp_path: Path) -> Iterator[Callable[[WorkerProcess], Prometheus]]:
    """Start a Prometheus scraping one worker every second; always stopped at the end."""
    started: list[subprocess.Popen[bytes]] = []

    def start(worker: WorkerProcess) -> Prometheus:
        config = tmp_path / "prometheus.yml"
        config.write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "rule_files": [str(ALERTS)],
                    "scrape_configs": [
                        {
                            "job_name": JOB,
                            "static_configs": [{"targets": [f"127.0.0.1:{worker.port}"]}],
                        }
                    ],
                }
            )
        )
        port = free_port()
        with (tmp_path / "prometheus.log").open("ab") as log:
            started.append(
                subprocess.Popen(
                    [
                        prometheus_binary(),
                        f"--config.file={config}",
                        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                        f"--web.listen-address=127.0.0.1:{port}",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            )
        prometheus = Prometheus(f"http://127.0.0.1:{port}")
        prometheus.wait_ready(started[-1], tmp_path / "prometheus.log")
        return prometheus

    yield start
    for process in started:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def process_events(endpoints: Endpoints, worker: WorkerProcess) -> int:
    """A demo city and a few reports (one broken); returns how many inbound records."""
    city = generate_city("demo", 7)
    asyncio.run(publish_city(endpoints.kafka_bootstrap, city, progress=False))
    worker.wait_ready()
    codes = {code.kind: code for code in city.iter_codes()}
    cover, lamp = codes["manhole_cover"], codes["street_light"]
    records: list[tuple[str, str, Any]] = [
        (topics.REPORTS.name, cover.code, report(cover.code, "窨井盖不见了，联系我13812345678")),
        (topics.REPORTS.name, lamp.code, report(lamp.code, "路灯不亮，身份证320102199003071234")),
        (topics.REPORTS.name, lamp.code, report(lamp.code, "路灯一闪一闪的")),
        (topics.REPORTS.name, "x", b"{broken json"),
    ]
    asyncio.run(publish(endpoints.kafka_bootstrap, records))
    accounted = asyncio.run(wait_until(endpoints.database_url, COUNT_ACCOUNTED, len(records)))
    assert accounted == len(records)
    return len(records)


def panel_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL with Grafana's variables filled in) of every dashboard target."""
    queries = []
    for panel in data_panels():
        for target in panel["targets"]:
            expr = target["expr"]
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            assert "$" not in expr, f"{panel['title']}: unknown Grafana variable in {expr!r}"
            queries.append((panel["title"], expr))
    return queries


def test_prometheus_scrapes_a_working_worker(
    endpoints: Endpoints,
    start_worker: Callable[..., WorkerProcess],
    scrape: Callable[[WorkerProcess], Prometheus],
) -> None:
    worker = start_worker(CIVICGRID_LOG_FORMAT="json")
    inbound = process_events(endpoints, worker)
    prometheus = scrape(worker)

    (up,) = prometheus.wait_for(f'up{{job="{JOB}"}} == 1')
    assert up["metric"]["instance"] == f"127.0.0.1:{worker.port}"
    for series in KEY_SERIES:
        assert prometheus.wait_for(series), f"no samples of {series}"

    consumed = prometheus.wait_for(f"sum(civicgrid_events_in_total) >= {inbound}")
    assert consumed, "Prometheus did not see every inbound record consumed"
    (letters,) = prometheus.query("sum by (kind) (civicgrid_dead_letters_total)")
    assert letters["metric"]["kind"] == "invalid_json"
    assert prometheus.query("civicgrid_sink_up == 1")
    assert prometheus.query("civicgrid_ready == 1")
    lag_topics = {r["metric"]["topic"] for r in prometheus.query("civicgrid_consumer_lag_messages")}
    assert {topics.REPORTS.name, topics.BY_GRID.name} <= lag_topics
    # Every record consumed and committed: lag falls to 0 within a few commit intervals.
    assert prometheus.wait_for("max(civicgrid_consumer_lag_messages) == 0", wait_s=30)

    for title, expr in panel_queries():
        # Valid is what counts: a panel of alerts that never fired may well be empty.
        answer = prometheus.api("query", query=expr)
        assert answer["status"] == "success", f"{title}: {expr!r}: {answer.get('error')}"
    rules = prometheus.api("rules")["data"]["groups"]
    broken = [r["name"] for g in rules for r in g["rules"] if r.get("health") != "ok"]
    assert not broken, f"alert rules failing to evaluate: {broken}"

    worker.stop()  # the log then holds the shutdown lines too
    log_lines = worker.log_path.read_text().splitlines()
    entries = [json.loads(line) for line in log_lines if line]
    assert any(entry.get("msg") == "worker ready" for entry in entries)
    for line in log_lines:
        assert not contains_personal_numbers(line), line
