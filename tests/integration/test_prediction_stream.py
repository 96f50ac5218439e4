"""Early warning through the broker, PostgreSQL and a worker, with event times on past days."""

import asyncio
import uuid
from collections.abc import Callable
from datetime import datetime, time, timedelta, timezone
from typing import Any

from civicgrid.db.queries import COUNT_ACCOUNTED
from civicgrid.embedded.stack import Endpoints
from civicgrid.topics import catalogue as topics
from tests.support.database import fetch, wait_until
from tests.support.kafka import publish, read_topic
from tools.city.generate import generate_city
from tools.city.model import City
from tools.city.publish import publish_city
from tools.workerproc import WorkerProcess

TAIZHOU = timezone(timedelta(hours=8))
LAMP, LITTER = ("01037", "路灯晚上不亮了"), ("06010", "路边有人乱扔垃圾")


def _report(at: datetime, category: tuple[str, str], **place: Any) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "occurred_at": at.isoformat(),
        "schema_version": 1,
        "channel": "scan" if "code" in place else "hotline",
        "description": category[1],
        "category_hint": category[0],
        "reporter_id": f"R-{uuid.uuid4().hex[:8]}",
        "reporter_role": "resident",
        **place,
    }


def _places(city: City) -> tuple[str, tuple[str, str, str], Any]:
    """A burst grid, three grids touching each other, and a street light elsewhere."""
    grids = {g.grid_id: set(g.neighbours) for g in city.grids}
    patch = next(
        (a, b, c)
        for a in sorted(grids)
        for b in sorted(grids[a])
        for c in sorted(grids[a] & grids[b])
    )
    near = set(patch).union(*(grids[g] for g in patch))
    burst = next(g for g in sorted(grids) if g not in near and not grids[g] & near)
    lamp = next(
        c for c in city.iter_codes() if c.kind == "street_light" and c.grid_id not in near | {burst}
    )
    return burst, patch, lamp


def _publish_phase(endpoints: Endpoints, phase: list[dict[str, Any]], published: int) -> int:
    """Publish one phase and wait until the grid stage has accounted for it."""
    records = [(topics.REPORTS.name, r.get("code") or r["grid_id"], r) for r in phase]
    published += asyncio.run(publish(endpoints.kafka_bootstrap, records))
    accounted = asyncio.run(wait_until(endpoints.database_url, COUNT_ACCOUNTED, published))
    assert accounted == published
    return published


def test_burst_cluster_and_repeat_each_alert_once_and_early(
    endpoints: Endpoints, start_worker: Callable[..., WorkerProcess]
) -> None:
    city = generate_city("demo", 7)
    asyncio.run(publish_city(endpoints.kafka_bootstrap, city, progress=False))
    # SLA ticks would breach the past-dated cases before the cluster could lift them
    settings = {"CIVICGRID_PREDICTION_CHECK_SECONDS": "0.5", "CIVICGRID_SLA_CHECK_SECONDS": "3600"}
    worker = start_worker(**settings)
    worker.wait_ready()
    burst, patch, lamp = _places(city)
    today = datetime.combine(datetime.now(TAIZHOU).date(), time(0), TAIZHOU)
    first = today - timedelta(days=12)

    def day(n: int, hour: int = 10) -> datetime:
        return first + timedelta(days=n, hours=hour)

    # One phase per day, each processed before the next is published: no report is later than
    # the watermark, so the quiet history is exactly what the baselines learn.
    quiet = [[_report(day(n), LAMP, grid_id=burst)] for n in range(9)]
    anomalies = [_report(day(9, 8) + timedelta(minutes=i), LAMP, grid_id=burst) for i in range(10)]
    anomalies += [
        _report(day(9, 9) + timedelta(minutes=i), LITTER, grid_id=g)
        for g in patch
        for i in range(9)
    ]
    anomalies += [
        _report(day(9, 11 + i), LAMP, code=lamp.code, lat=lamp.lat, lon=lamp.lon) for i in range(3)
    ]
    published = 0
    for phase in [*quiet, anomalies]:
        published = _publish_phase(endpoints, phase, published)

    url = endpoints.database_url
    # Day 9 is still counting (nothing later has been seen), yet its burst and cluster alert.
    statistical = (
        "SELECT count(*) FROM alerts WHERE kind = 'cluster' "
        f"OR (kind = 'rate_anomaly' AND category = '{LAMP[0]}')"
    )
    assert asyncio.run(wait_until(url, statistical, 2, wait_s=30)) == 2
    assert asyncio.run(fetch(url, "SELECT count(*) AS n FROM scored_windows"))[0]["n"] == 9
    ids = "SELECT alert_id FROM alerts ORDER BY alert_id"
    raised_early = asyncio.run(fetch(url, ids))

    # A new leader checks the same open day again and again: it raises nothing new.
    worker.stop()
    start_worker(**settings).wait_ready()
    asyncio.run(asyncio.sleep(3))  # a few of its 0.5 s ticks before day 9 can close
    closing = [_report(day(10, 12), LITTER, grid_id=burst)]
    published = _publish_phase(endpoints, closing, published)
    scored = "SELECT count(*) FROM scored_windows"
    assert asyncio.run(wait_until(url, scored, 10, wait_s=30)) == 10  # days 0..9; day 10 is open
    # the cluster's escalations happen in the grid stage after the leader's envelopes; its
    # grids are lifted again at close, so every case of the window reaches the network
    lifted = f"SELECT count(*) FROM cases WHERE category = '{LITTER[0]}' AND level = 'street'"
    assert asyncio.run(wait_until(url, lifted, 27, wait_s=30)) == 27

    rows = asyncio.run(fetch(url, "SELECT * FROM alerts ORDER BY alert_id"))
    # nothing more at close: every rate and cluster alert of day 9 came while it counted
    assert [r["alert_id"] for r in rows] == [r["alert_id"] for r in raised_early]
    by_kind: dict[str, list[Any]] = {}
    for row in rows:
        by_kind.setdefault(row["kind"], []).append(row)
    rate = [r for r in by_kind["rate_anomaly"] if r["category"] == LAMP[0]]
    assert [r["grid_ids"] for r in rate] == [[burst]]
    # raised on the way up: over the threshold of 7 the whole day had to clear
    assert 8.0 <= rate[0]["observed"] <= 10.0
    assert rate[0]["expected"] == 1.0
    assert rate[0]["window_start"] == first + timedelta(days=9)
    assert rate[0]["window_end"] == first + timedelta(days=10)
    (cluster,) = by_kind["cluster"]
    assert cluster["category"] == LITTER[0]
    assert set(cluster["grid_ids"]) <= set(patch)
    assert len(cluster["grid_ids"]) >= 2
    assert cluster["observed"] <= 27.0
    # a patch grid counted before its neighbours may alert alone first; the others fold in
    alone = [r for r in by_kind["rate_anomaly"] if r["category"] == LITTER[0]]
    assert all(r["grid_ids"][0] in patch for r in alone)
    assert len(alone) < len(patch)
    (repeat,) = by_kind["repeat_point"]
    assert (repeat["grid_ids"], repeat["observed"]) == ([lamp.grid_id], 3.0)

    # read past the rows' count: a message raised twice would show here
    on_topic = asyncio.run(
        read_topic(endpoints.kafka_bootstrap, topics.ALERTS.name, len(rows) + 1, wait_s=5)
    )
    kinds = sorted(value["kind"] for _, value in on_topic)
    assert kinds == sorted(row["kind"] for row in rows)
    (cluster_message,) = [v for _, v in on_topic if v["kind"] == "cluster"]
    assert sorted(cluster_message["grid_ids"]) == sorted(cluster["grid_ids"])
    reasons = asyncio.run(
        fetch(
            url, "SELECT reason FROM dispatches WHERE level = 'network' AND reason LIKE 'cluster%'"
        )
    )
    assert len(reasons) == 27
