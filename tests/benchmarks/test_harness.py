"""The benchmark harness's own pieces, in milliseconds: no benchmark runs here."""

import os
import time

import orjson

from benchmarks.load import simulated
from benchmarks.pipeline import cpu_seconds
from benchmarks.samework import Stages, city_view, raw
from civicgrid import runtime
from civicgrid.city.generate import generate_city
from civicgrid.domain.classifier import ConstantClassifier, packaged_head
from civicgrid.domain.gridwork import GridWork
from civicgrid.domain.privacy import KeyedHasher
from civicgrid.domain.taxonomy import Taxonomy
from civicgrid.settings import Settings
from topics import catalogue as topics


def test_cpu_seconds_counts_this_process_work() -> None:
    before = cpu_seconds(os.getpid())
    deadline = time.process_time() + 0.05
    while time.process_time() < deadline:
        pass
    assert cpu_seconds(os.getpid()) - before >= 0.03


def test_same_work_rows_mask_place_and_refuse_like_the_intake() -> None:
    city = generate_city("demo")
    taxonomy = Taxonomy.default()
    work = GridWork(ConstantClassifier(packaged_head(), taxonomy), taxonomy)
    stages = Stages(city_view(city), work, KeyedHasher(b"k" * 32))
    records = simulated(city, 200, 1, seed=11)
    now_ms = int(time.time() * 1000)
    rows = stages.rows([raw(r.topic, 0, i, now_ms, r.key, r.value) for i, r in enumerate(records)])
    assert {row["event_id"] for row in rows} == {r.event_id for r in records}
    reports = [row for row in rows if row["kind"] == "report"]
    assert reports
    assert all(row["category"] is not None for row in reports)
    assert all(row["category"] is None for row in rows if row["kind"] != "report")
    clear = {orjson.loads(r.value).get("reporter_id") for r in records} - {None}
    text = orjson.dumps([row["payload"] for row in rows]).decode()
    assert clear
    assert not any(person in text for person in clear)
    assert stages.row(raw(topics.REPORTS.name, 0, 0, now_ms, b"k", b"\xff{not json")) is None


def test_the_benchmark_switch_stubs_the_workers_classifier_and_is_off_by_default() -> None:
    taxonomy = Taxonomy.default()
    assert not isinstance(runtime.classifier(Settings(), taxonomy), ConstantClassifier)
    stub = runtime.classifier(Settings(bench_constant_classifier=True), taxonomy)
    assert isinstance(stub, ConstantClassifier)
    assert stub.classify("路灯不亮").category == next(iter(taxonomy)).code
