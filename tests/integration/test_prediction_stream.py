"""Early warning through the broker, PostgreSQL and a worker, with event times on past days."""

import asyncio
import uuid
from collections.abc import Callable
from datetime import datetime, time, timedelta, timezone
from typing import Any

from civicgrid.city.generate import generate_city
from civicgrid.city.model import City
from civicgrid.city.publish import publish_city
from civicgrid.db.queries import COUNT_ACCOUNTED
from civicgrid.embedded.stack import Endpoints
from civicgrid.workerproc import WorkerProcess
from tests.support.database import fetch, wait_until
from tests.support.kafka import publish, read_topic
from topics import catalogue as topics

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


def test_burst_cluster_and_repeat_each_alert_once(
    endpoints: Endpoints, start_worker: Callable[..., WorkerProcess]
) -> None:
    city = generate_city("demo", 7)
    asyncio.run(publish_city(endpoints.kafka_bootstrap, city, progress=False))
    # SLA ticks would breach the past-dated cases before the cluster could lift them
    start_worker(
        CIVICGRID_PREDICTION_CHECK_SECONDS="0.5", CIVICGRID_SLA_CHECK_SECONDS="3600"
    ).wait_ready()
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
    closing = [_report(day(10, 12), LITTER, grid_id=burst)]
    published = 0
    for phase in [*quiet, anomalies, closing]:
        records = [(topics.REPORTS.name, r.get("code") or r["grid_id"], r) for r in phase]
        published += asyncio.run(publish(endpoints.kafka_bootstrap, records))
        assert (
            asyncio.run(wait_until(endpoints.database_url, COUNT_ACCOUNTED, published)) == published
        )

    url = endpoints.database_url
    scored = "SELECT count(*) FROM scored_windows"
    assert asyncio.run(wait_until(url, scored, 10, wait_s=30)) == 10  # days 0..9; day 10 is open
    # the cluster's escalations happen in the grid stage after the leader's envelopes
    lifted = f"SELECT count(*) FROM cases WHERE category = '{LITTER[0]}' AND level = 'street'"
    assert asyncio.run(wait_until(url, lifted, 27, wait_s=30)) == 27

    rows = asyncio.run(fetch(url, "SELECT * FROM alerts ORDER BY alert_id"))
    by_kind: dict[str, list[Any]] = {}
    for row in rows:
        by_kind.setdefault(row["kind"], []).append(row)
    rate = [r for r in by_kind["rate_anomaly"] if r["category"] == LAMP[0]]
    assert [r["grid_ids"] for r in rate] == [[burst]]
    assert (rate[0]["observed"], rate[0]["expected"]) == (10.0, 1.0)
    assert rate[0]["window_start"] == first + timedelta(days=9)
    assert rate[0]["window_end"] == first + timedelta(days=10)
    (cluster,) = by_kind["cluster"]
    assert (sorted(cluster["grid_ids"]), cluster["category"]) == (sorted(patch), LITTER[0])
    assert cluster["observed"] == 27.0
    (repeat,) = by_kind["repeat_point"]
    assert (repeat["grid_ids"], repeat["observed"]) == ([lamp.grid_id], 3.0)

    on_topic = asyncio.run(read_topic(endpoints.kafka_bootstrap, topics.ALERTS.name, len(rows)))
    kinds = sorted(value["kind"] for _, value in on_topic)
    assert kinds == sorted(row["kind"] for row in rows)
    (cluster_message,) = [v for _, v in on_topic if v["kind"] == "cluster"]
    assert sorted(cluster_message["grid_ids"]) == sorted(patch)
    reasons = asyncio.run(
        fetch(
            url, "SELECT reason FROM dispatches WHERE level = 'network' AND reason LIKE 'cluster%'"
        )
    )
    assert len(reasons) == 27
