"""promtool passes the metrics the worker serves, the alert rules and the Prometheus config."""

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from tools.promtext import (
    civicgrid_metrics,
    label_names,
    promql_metric_names,
    sample_exposition,
    series_names,
)

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
ALERTS = PROMETHEUS_DIR / "alerts.yml"
CONFIG = PROMETHEUS_DIR / "prometheus.yml"

# Series Prometheus itself makes; rules may select them besides the worker's.
PROMETHEUS_SERIES = frozenset({"up", "ALERTS", "ALERTS_FOR_STATE"})

# Every label value must come from a closed set (topics, partitions, enums, stages).
# Ids of grids, cases, codes or people would make one series per id.
BOUNDED_LABELS = frozenset(
    {"topic", "partition", "kind", "category", "severity", "reason", "level", "state", "stage"}
    | {"table", "actor_kind", "action", "op", "from_category", "to_category"}
)


def promtool(
    *args: str, stdin: str | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is missing: run scripts/ensure-prometheus.sh (as root) to install it")
    return subprocess.run(
        [path, *args], input=stdin, cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def metric_name(metric: MetricWrapperBase) -> str:
    (family,) = metric.describe()
    return family.name


def alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_metrics_pass_promtool_lint() -> None:
    result = promtool("check", "metrics", stdin=sample_exposition())
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_lint_rejects_bad_names() -> None:
    # Guards the test above against passing because promtool read nothing.
    bad = "# HELP latencyMs x\n# TYPE latencyMs gauge\nlatencyMs 1\n"
    result = promtool("check", "metrics", stdin=bad)
    assert result.returncode != 0
    assert "camelCase" in result.stdout + result.stderr


def test_every_civicgrid_metric_is_exported() -> None:
    exported = series_names(sample_exposition())
    for metric in civicgrid_metrics():
        name = metric_name(metric)
        assert any(series.startswith(name) for series in exported), name


def test_metric_labels_are_bounded() -> None:
    for metric in civicgrid_metrics():
        unbounded = set(label_names(metric)) - BOUNDED_LABELS
        assert not unbounded, f"{metric_name(metric)}: unbounded label(s) {unbounded}"


def test_alert_rules_pass_promtool() -> None:
    result = promtool("check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_are_complete() -> None:
    for rule in alert_rules():
        assert rule.get("for"), f"{rule['alert']}: no `for:`, so one bad scrape pages"
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert {"summary", "description"} <= rule["annotations"].keys(), rule["alert"]


def test_alert_rules_select_existing_metrics() -> None:
    exported = series_names(sample_exposition()) | PROMETHEUS_SERIES
    for rule in alert_rules():
        missing = promql_metric_names(rule["expr"]) - exported
        assert not missing, f"{rule['alert']}: no such series {missing}"


def test_prometheus_config_passes_promtool() -> None:
    # Run from the repository root with a relative path: rule_files resolve against
    # the config file's directory, as they do in the container.
    result = promtool("check", "config", str(CONFIG.relative_to(ROOT)))
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_discovers_every_worker_replica() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    assert config["rule_files"] == ["alerts.yml"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    worker = jobs["civicgrid-worker"]
    assert worker.get("metrics_path", "/metrics") == "/metrics"
    assert worker["dns_sd_configs"] == [
        {"names": ["worker"], "type": "A", "port": 6066, "refresh_interval": "15s"}
    ]


def _rendered_annotations(name: str, labels: dict[str, str], value: str) -> dict[str, str]:
    # The annotations use only $labels.<name> and a plain $value, so string
    # substitution renders them as Prometheus would.
    rule = next(rule for rule in alert_rules() if rule["alert"] == name)
    rendered = {}
    for key, text in rule["annotations"].items():
        for label, label_value in labels.items():
            text = text.replace(f"{{{{ $labels.{label} }}}}", label_value)
        rendered[key] = text.replace("{{ $value }}", value)
    return rendered


def test_alerts_fire_on_a_stalled_pipeline_and_a_failing_sink(tmp_path: Path) -> None:
    worker = {"instance": "10.0.0.5:6066", "job": "civicgrid-worker"}
    series = ",".join(f'{key}="{value}"' for key, value in worker.items())
    lag = f'civicgrid_consumer_lag_messages{{{series},topic="civic.reports.v1",partition="0"}}'
    consumed = f'civicgrid_events_in_total{{{series},topic="civic.reports.v1"}}'
    stalled = {"severity": "critical", "instance": worker["instance"]}
    sink_down = {"severity": "critical", **worker}
    tests = {
        "rule_files": [str(ALERTS)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    # Consumes for 10 minutes, then stops with 500 messages of lag.
                    {"series": lag, "values": "0x10 500x20"},
                    {"series": consumed, "values": "0+100x10 1000x20"},
                    {"series": f"civicgrid_sink_up{{{series}}}", "values": "1x5 0x10"},
                ],
                "alert_rule_test": [
                    {"eval_time": "9m", "alertname": "CivicgridPipelineStalled", "exp_alerts": []},
                    {
                        "eval_time": "25m",
                        "alertname": "CivicgridPipelineStalled",
                        "exp_alerts": [
                            {
                                "exp_labels": stalled,
                                "exp_annotations": _rendered_annotations(
                                    "CivicgridPipelineStalled", worker, "500"
                                ),
                            }
                        ],
                    },
                    {"eval_time": "5m", "alertname": "CivicgridSinkDown", "exp_alerts": []},
                    {
                        "eval_time": "9m",
                        "alertname": "CivicgridSinkDown",
                        "exp_alerts": [
                            {
                                "exp_labels": sink_down,
                                "exp_annotations": _rendered_annotations(
                                    "CivicgridSinkDown", worker, "0"
                                ),
                            }
                        ],
                    },
                ],
            }
        ],
    }
    unit_tests = tmp_path / "alerts_test.yml"
    unit_tests.write_text(yaml.safe_dump(tests, sort_keys=False))
    result = promtool("test", "rules", str(unit_tests))
    assert result.returncode == 0, result.stdout + result.stderr
