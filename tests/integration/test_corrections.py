"""The correction loop of issue 17 end to end, through real workers, the broker and PostgreSQL:
reports in a wording the shipped classifier gets wrong are reclassified by an operator (the
old tasks withdrawn, the new owners dispatched), stored once as labelled examples, a model file
is retrained from the database with `civicgrid classifier retrain`, and a worker started on it
classifies that wording right where the shipped one did not.

The wording is the second city's (evaluation/classifier/second_city.py, written apart from the
corpus): a road washed hollow underneath ("…下面畀水淘空咗"), which the shipped head reads as
street vending. The quick retrain (`--per-category 2`) keeps the test to a few hundred encoded
texts; `make eval` measures the full retrain."""

import asyncio
import uuid
from pathlib import Path
from typing import Any

import orjson
from click.testing import CliRunner

from civicgrid.domain.classifier import Classifier, load_head
from civicgrid.domain.embedding import E5Encoder
from civicgrid.domain.taxonomy import Taxonomy
from civicgrid.embedded.stack import Endpoints
from civicgrid.topics import catalogue as topics
from evaluation.classifier.second_city import generate
from tests.support.cases import Driver, read_all
from tests.support.database import fetch, fetchval, wait_until
from tests.support.kafka import NO_BROKER, publish
from tools.city.generate import generate_city
from tools.city.publish import publish_city
from tools.cli import cli

ROAD_COLLAPSE = "10001"


def _hollow_road() -> list[str]:
    """Four of the second city's held-out reports of a washed-out road, all in one wording."""
    texts = [
        r.text
        for r in generate("test", 360, seed=0)
        if r.category == ROAD_COLLAPSE and "淘空" in r.text
    ]
    return texts[:4]


def test_reclassify_store_retrain_and_the_new_model_reads_the_wording(
    endpoints: Endpoints, start_worker: Any, tmp_path: Path
) -> None:
    *corrected, probe = _hollow_road()
    shipped = Classifier.default()
    assert all(shipped.classify(text).category != ROAD_COLLAPSE for text in [*corrected, probe])
    city = generate_city("demo", 7)
    grid_id = city.grids[0].grid_id
    asyncio.run(publish_city(endpoints.kafka_bootstrap, city, progress=False))
    url = endpoints.database_url
    driver = Driver(endpoints.kafka_bootstrap, url)
    worker = start_worker(CIVICGRID_SLA_CHECK_SECONDS="86400")
    worker.wait_ready()

    async def correct() -> tuple[list[str], dict[str, Any]]:
        case_ids = []
        for text in corrected:
            case_id, _ = await driver.report(None, text, grid_id=grid_id)
            case_ids.append(case_id)
        updates = []
        for case_id in case_ids:
            updates.append(
                await driver.update(case_id, "reclassify", "operator", category=ROAD_COLLAPSE)
            )
        return case_ids, {"event_id": updates[0], "case_id": case_ids[0]}

    case_ids, first = asyncio.run(correct())
    rows = asyncio.run(
        fetch(
            url,
            "SELECT case_id, report_text, from_category, to_category "
            "FROM classification_corrections ORDER BY corrected_at",
        )
    )
    assert [(r[0], r[1], r[3]) for r in rows] == [
        (c, t, ROAD_COLLAPSE) for c, t in zip(case_ids, corrected, strict=True)
    ]
    assert all(r[2] != ROAD_COLLAPSE for r in rows)  # what the worker had said
    # re-routed: each case's first task withdrawn, the road's owners dispatched
    tasks = [
        *asyncio.run(read_all(endpoints.kafka_bootstrap, topics.DISPATCH_GRID.name)),
        *asyncio.run(read_all(endpoints.kafka_bootstrap, topics.DISPATCH_NETWORK.name)),
    ]
    for case_id in case_ids:
        mine = [t for t in tasks if t["case_id"] == case_id]
        assert [t["withdrawn"] for t in mine if t["category"] != ROAD_COLLAPSE] == [False, True]
        assert [t["withdrawn"] for t in mine if t["category"] == ROAD_COLLAPSE] == [False]
    # the same update delivered again is stored once
    asyncio.run(_redeliver(endpoints, url, first))
    assert asyncio.run(fetchval(url, "SELECT count(*) FROM classification_corrections")) == 3

    model = tmp_path / "head.npz"
    env = {"CIVICGRID_KAFKA_BROKER": NO_BROKER, "CIVICGRID_DATABASE_URL": url}
    args = ["classifier", "retrain", "--out", str(model), "--per-category", "2"]
    result = CliRunner().invoke(cli, [*args, "--cache", str(tmp_path / "vectors.npz")], env=env)
    assert result.exit_code == 0, result.output
    assert "3 corrected reports" in result.output
    retrained = load_head(model)
    assert retrained.meta["corrections"] == 3
    assert retrained.meta["trained_on"] != Classifier.default().head.meta["trained_on"]
    assert Classifier(retrained, Taxonomy.default(), E5Encoder()).classify(probe).category == (
        ROAD_COLLAPSE
    )

    worker.stop()
    start_worker(
        CIVICGRID_SLA_CHECK_SECONDS="86400", CIVICGRID_CLASSIFIER_MODEL=str(model)
    ).wait_ready()
    report_id = str(uuid.uuid4())

    async def report_again() -> Any:
        await driver.report(None, probe, grid_id=grid_id, event_id=report_id)
        return await fetchval(
            url, "SELECT category FROM events WHERE event_id = $1::uuid", report_id
        )

    assert asyncio.run(report_again()) == ROAD_COLLAPSE


async def _redeliver(endpoints: Endpoints, url: str, first: dict[str, Any]) -> None:
    value = orjson.loads(
        await fetchval(
            url, "SELECT payload->'event' FROM events WHERE event_id = $1::uuid", first["event_id"]
        )
    )
    await publish(endpoints.kafka_bootstrap, [(topics.CASE_UPDATES.name, first["case_id"], value)])
    counted = await wait_until(
        url,
        f"SELECT count(*) FROM duplicate_deliveries WHERE event_id = '{first['event_id']}'",
        1,
    )
    assert counted == 1
