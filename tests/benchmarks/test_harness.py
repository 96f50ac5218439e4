"""The benchmark harness's own pieces, in milliseconds: no benchmark runs here."""

import os
import time
from pathlib import Path

import orjson

from benchmarks.__main__ import latency_figures
from benchmarks.costcurve import CostPoint, reports_only
from benchmarks.load import simulated
from benchmarks.pipeline import Latency, PipelineRun, cpu_seconds
from benchmarks.report import Results, write
from benchmarks.samework import Stages, city_view, raw
from benchmarks.scaleout import inbound_records
from benchmarks.stats import Figure, percentile
from civicgrid import runtime
from civicgrid.domain.classifier import ConstantClassifier, packaged_head
from civicgrid.domain.gridwork import GridWork
from civicgrid.domain.privacy import KeyedHasher
from civicgrid.domain.taxonomy import Taxonomy
from civicgrid.settings import Settings
from civicgrid.topics import catalogue as topics
from tools.city.generate import generate_city


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


def test_the_ten_times_city_sits_between_the_demo_and_taizhou() -> None:
    demo, ten = generate_city("demo"), generate_city("demo10x")
    assert len(ten.grids) == 10 * len(demo.grids)
    assert 9 * demo.code_total < ten.code_total < 11 * demo.code_total
    assert len({g.grid_id for g in ten.grids}) == len(ten.grids)


def test_a_workers_inbound_records_are_summed_over_topics_from_its_metrics() -> None:
    text = "\n".join(
        [
            "# HELP civicgrid_events_in_total Inbound messages consumed",
            "# TYPE civicgrid_events_in_total counter",
            'civicgrid_events_in_total{topic="civic.reports.v1"} 120.0',
            'civicgrid_events_in_total{topic="civic.scans.v1"} 880.0',
            'civicgrid_events_in_created{topic="civic.scans.v1"} 1.7e9',
            'civicgrid_events_out_total{topic="civic.cases.v1"} 5.0',
        ]
    )
    assert inbound_records(text) == 1000.0


def test_reports_only_gives_the_count_asked_for_all_reports() -> None:
    city = generate_city("demo")
    records = reports_only(city, 300, seed=3)
    assert len(records) == 300
    assert {r.topic for r in records} == {topics.REPORTS.name}


def test_the_report_writes_the_cost_curves_and_the_scale_out_lines(tmp_path: Path) -> None:
    points = [
        CostPoint("registry", "demo", 3159, 36, 0.5, 2, 1000, 0.2, 150 * 2**20, 160 * 2**20),
        CostPoint("registry", "taizhou", 994_746, 6624, 0.0, 1, 1000, 0.5, 380 * 2**20, 2**29),
        CostPoint("cases", "0 reports/grid", 3159, 36, 1.0, 3, 1000, 0.2, 150 * 2**20, 2**28),
        CostPoint("cases", "50 reports/grid", 3159, 36, 30.0, 41, 1000, 0.3, 160 * 2**20, 2**28),
    ]
    assert points[0].cpu_us_per_event == 200.0
    results = Results("quick", curves=points, scale_out={"real classifier": ["2 workers: ..."]})
    results.figures.append(
        Figure("x", "ev/s", runs=[1.0, 3.0, 2.0], baseline="y", baseline_runs=[1.0])
    )
    text = write(results, tmp_path, "").read_text()
    assert (tmp_path / "bench_cost_curves.png").stat().st_size > 10_000
    assert "| cases | 50 reports/grid | 3,159 | 36 | 30.0 (41) | 1,000 | 300 |" in text
    assert "- real classifier: 2 workers: ..." in text
    assert "| x (ev/s) | 2.00 (1.00–3.00, 3 runs) | y: 1.00 (1 run) | 2.00 |" in text


def test_latency_figures_keep_the_two_arms_apart_and_only_the_real_one_answers_the_target(
    tmp_path: Path,
) -> None:
    def run(rate: float, ms: float) -> PipelineRun:
        return PipelineRun(latencies=[Latency(rate, [ms] * 99 + [10 * ms], [ms] * 10)])

    results = Results("full")
    latency_figures(results, "real classifier", [run(25.0, 80.0)], (25.0,))
    latency_figures(results, "classifier stubbed", [run(1000.0, 90.0)], (1000.0,))
    p99 = {f.name: f for f in results.figures if "commit p99" in f.name}
    assert p99["latency to Postgres commit p99 at 25 ev/s, real classifier"].value == 80.0
    stubbed = p99["latency to Postgres commit p99 at 1,000 ev/s, classifier stubbed"]
    assert stubbed.value == 90.0
    assert stubbed.met is None  # the SPEC's target is the real pipeline's
    assert results.latency["classifier stubbed"]["commit"][1000.0]["p99"] == 90.0
    write(results, tmp_path, "")
    assert (tmp_path / "bench_latency.png").stat().st_size > 10_000


def test_nearest_rank_percentiles() -> None:
    hundred = [float(v) for v in range(1, 101)]
    assert [percentile(hundred, q) for q in (50, 95, 99, 100)] == [50.0, 95.0, 99.0, 100.0]
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([1.0, 2.0], 99) == 2.0


def test_a_full_write_keeps_the_sections_other_benchmarks_added_by_hand(tmp_path: Path) -> None:
    (tmp_path / "RESULTS.md").write_text(
        "# Benchmark results\n\nold table\n\n## Targets missed\n\n- old\n\n"
        "## Household reconciliation (run by hand)\n\n| a |\n|---|\n\n"
        "## What was changed\n\nold changes\n"
    )
    text = write(Results("full"), tmp_path, "## What was changed\n\nnew changes").read_text()
    assert "## Household reconciliation (run by hand)\n\n| a |\n|---|" in text
    assert "old table" not in text
    assert "- old" not in text
    assert "old changes" not in text
    assert text.count("## What was changed") == 1
    again = write(Results("full"), tmp_path, "## What was changed\n\nnew changes").read_text()
    assert again.count("## Household reconciliation") == 1
