"""The provisioned Grafana dashboard draws every panel from series the worker exports."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from tools.promtext import promql_metric_names, sample_exposition, series_names

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "civicgrid.json"

# Series Prometheus itself makes; panels may show them besides the worker's.
PROMETHEUS_SERIES = frozenset({"up", "ALERTS", "ALERTS_FOR_STATE"})


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panels(container: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those inside collapsed rows."""
    for panel in container.get("panels", []):
        yield panel
        yield from panels(panel)


def data_panels() -> list[dict[str, Any]]:
    # Rows only group panels; they query nothing.
    return [panel for panel in panels(dashboard()) if panel["type"] != "row"]


def datasource_uid() -> str:
    provisioning = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )
    (source,) = provisioning["datasources"]
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    uid: str = source["uid"]
    return uid


def test_every_panel_queries_the_provisioned_datasource() -> None:
    uid = datasource_uid()
    for panel in data_panels():
        assert panel.get("datasource") == {"type": "prometheus", "uid": uid}, panel["title"]
        assert panel.get("targets"), f"{panel['title']}: no queries"
        for target in panel["targets"]:
            assert target.get("datasource", panel["datasource"])["uid"] == uid, panel["title"]


def test_every_panel_selects_existing_series() -> None:
    exported = series_names(sample_exposition()) | PROMETHEUS_SERIES
    for panel in data_panels():
        for target in panel["targets"]:
            names = promql_metric_names(target["expr"])
            assert names, f"{panel['title']}: {target['expr']!r} selects nothing"
            missing = names - exported
            assert not missing, f"{panel['title']}: no such series {missing}"


def test_dashboard_covers_what_operations_watch() -> None:
    # The list: throughput, latency, lag, cases by state, escalations, alerts by kind.
    exprs = " ".join(target["expr"] for panel in data_panels() for target in panel["targets"])
    for series in (
        "civicgrid_events_in_total",
        "civicgrid_stage_latency_seconds_bucket",
        "civicgrid_consumer_lag_messages",
        "civicgrid_open_cases",
        "civicgrid_escalations_total",
        "civicgrid_alerts_total",
    ):
        assert series in exprs, series
    assert any("by (state)" in target["expr"] for p in data_panels() for target in p["targets"])
    assert any("by (kind)" in target["expr"] for p in data_panels() for target in p["targets"])


def test_panels_have_unique_ids_and_a_place() -> None:
    all_panels = list(panels(dashboard()))
    ids = [panel["id"] for panel in all_panels]
    assert len(ids) == len(set(ids))
    for panel in all_panels:
        assert {"h", "w", "x", "y"} <= panel["gridPos"].keys(), panel["title"]
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]


def test_dashboard_is_provisioned_from_the_mounted_directory() -> None:
    provider = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "civicgrid.yml").read_text()
    )
    (entry,) = provider["providers"]
    assert entry["type"] == "file"
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./deploy/grafana/dashboards:{entry['options']['path']}:ro" in mounts
    assert dashboard()["uid"] == "civicgrid"
