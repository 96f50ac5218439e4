"""`make bench`: every figure of benchmarks/results/RESULTS.md from one invocation.

    python -m benchmarks [--quick] [--runs N] [--no-profile] [--no-taizhou]

Order: classification (no services), then one embedded broker and PostgreSQL for the sink,
the three bare forwarders, and per run: the pipeline, the pipeline with the classifier
stubbed, and the two same-work peers on that run's own records; then a second broker for
the Taizhou-scale registry (Tansu keeps every record in RAM, so the big registry does not
share the first one). `--quick` (`make bench-quick`) writes to results/quick/, never over
RESULTS.md: its figures check the harness and are not for quoting.
"""

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ParamSpec, TypeVar

from benchmarks import api_load, baselines, bench_classify, profiles, report, rss, sink
from benchmarks.load import simulated
from benchmarks.pipeline import PipelineBench, PipelineRun, summary
from benchmarks.stack import BenchStack, bench_stack
from benchmarks.stats import Figure
from civicgrid.city.generate import generate_city
from civicgrid.city.model import City
from civicgrid.city.publish import publish_city
from civicgrid.settings import Settings
from topics import catalogue as topics

RESULTS_DIR = Path(__file__).resolve().parent / "results"
PERFORMANCE_DOC = Path(__file__).resolve().parents[1] / "docs" / "performance.md"
GIB = 1024**3
T = TypeVar("T")
P = ParamSpec("P")


@dataclass(frozen=True)
class Sizes:
    saturation_events: int
    baseline_events: int
    latency_seconds: float
    sink_rows: int
    taizhou_events: int
    rates: tuple[float, ...]  # offered rates of the latency phases


FULL = Sizes(30_000, 60_000, 20.0, 200_000, 5_000, (500.0, 1000.0, 2000.0))
# quick: no latency phases (their offered rates would swamp a shared machine); the full run has them
QUICK = Sizes(1_000, 3_000, 3.0, 30_000, 1_000, ())


class Steps:
    """Progress on stderr: which step, how far, how long so far."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.started = total, 0, time.monotonic()

    def run(self, what: str, step: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        self.done += 1
        elapsed = time.monotonic() - self.started
        print(f"[{self.done}/{self.total} {elapsed:6.0f} s] {what}", file=sys.stderr, flush=True)
        return step(*args, **kwargs)

    def say(self, line: str) -> None:
        print(f"    {line}", file=sys.stderr, flush=True)


def classification(runs: int, steps: Steps) -> Figure:
    figure = Figure("classification", "reports/s on one core")
    affinity = os.sched_getaffinity(0)
    try:
        for n in range(runs):
            result = steps.run(f"classification run {n + 1}/{runs}", bench_classify.run)
            figure.runs.append(result["reports_per_s"])
    finally:
        os.sched_setaffinity(0, affinity)  # bench_classify pins this process to one CPU
    return figure


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short runs to check the harness")
    parser.add_argument(
        "--runs", type=int, default=3, help="runs per figure (at least 3 unless --quick)"
    )
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy run")
    parser.add_argument("--no-taizhou", action="store_true", help="skip the Taizhou RSS figure")
    parser.add_argument("--out", type=Path, help="default: results/, or results/quick/")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    runs = max(1 if args.quick else 3, args.runs)
    out = args.out or (RESULTS_DIR / "quick" if args.quick else RESULTS_DIR)
    kinds = baselines.KINDS
    taizhou = 0 if args.no_taizhou else 1
    # per run: classification, sink, each bare forwarder, pipeline (which publishes the demo
    # city to its own fresh broker), the stubbed pipeline, each same-work peer, Taizhou; once:
    # the Taizhou city's publication, the profiled run, the API
    peers = baselines.SAME_WORK
    steps = Steps(
        runs * (2 + len(kinds) + 2 + len(peers) + taizhou)
        + taizhou
        + (0 if args.no_profile else 1)
        + 1
    )
    results = report.Results("quick" if args.quick else "full")
    results.figures.append(classification(runs, steps))
    work_dir = Path(tempfile.mkdtemp(prefix="civicgrid-bench-"))
    steps.say(f"worker and forwarder logs under {work_dir}")
    demo = generate_city("demo")
    with bench_stack("civicgrid-bench-") as stack:
        results.figures.append(sink_figure(stack, runs, sizes, steps))
        forwarded = {
            kind: baseline_runs(kind, stack.bootstrap, runs, sizes, demo, work_dir, steps)
            for kind in kinds
        }
        bench = PipelineBench(
            stack,
            demo,
            work_dir,
            sizes.saturation_events,
            sizes.rates,
            sizes.latency_seconds,
        )
        # the classifier's price: the same saturation load, every report one fixed category
        stubbed = replace(bench, latency_rates=(), constant_classifier=True)
        pipeline: list[PipelineRun] = []
        constant: list[PipelineRun] = []
        same: dict[str, list[baselines.SameWork]] = {kind: [] for kind in peers}
        for n in range(runs):
            run = steps.run(f"pipeline run {n + 1}/{runs}", bench.run, n)
            steps.say(_describe(run))
            pipeline.append(run)
            run = steps.run(f"pipeline, constant classifier, run {n + 1}/{runs}", stubbed.run, n)
            steps.say(_describe(run))
            constant.append(run)
            for kind in peers:
                peer = steps.run(
                    f"same-work peer {kind} run {n + 1}/{runs}",
                    baselines.run_same_work,
                    kind,
                    stack,
                    n,
                    bench.records(n),
                    bench.probe(1000 * n + 5),
                    work_dir,
                )
                steps.say(
                    f"{peer.drained.rows:,}/{peer.drained.expected:,} rows, "
                    f"{peer.rate:,.0f} ev/s, {peer.cpu_ms_per_event:.2f} ms CPU/event"
                )
                same[kind].append(peer)
        api_seconds = 3.0 if args.quick else 15.0
        api = steps.run("HTTP API under load", api_load.measure, stack, work_dir, api_seconds, 16)
        results.sections.append(api_load.table(api, 16))
        if not args.no_profile:
            profile_path = work_dir / "pipeline-profile.txt"
            steps.run("pipeline run under py-spy", lambda: bench.run(runs, profile_path))
            if profile_path.exists():
                results.profile = profiles.read(profile_path)
    pipeline_figures(results, pipeline, forwarded, sizes.rates)
    same_work_figures(results, pipeline, constant, same)
    if not args.no_taizhou:
        results.figures.append(taizhou_figure(runs, sizes, work_dir, steps))
    written = report.write(results, out, _changes())
    print(f"wrote {written}", file=sys.stderr)


def sink_figure(stack: BenchStack, runs: int, sizes: Sizes, steps: Steps) -> Figure:
    batch = Settings().batch_size
    figure = Figure(
        "sink (write_plan, COPY path)",
        f"rows/s, batches of {batch:,}",
        target="≥ 80,000",
        target_value=80_000,
    )
    for n in range(runs):
        url = stack.fresh_endpoints("sink").database_url
        rate = steps.run(
            f"sink run {n + 1}/{runs}",
            sink.run,
            url,
            sizes.sink_rows,
            batch,
            n,
        )
        steps.say(f"{rate:,.0f} rows/s")
        figure.runs.append(rate)
    return figure


def baseline_runs(
    kind: str,
    bootstrap: str,
    runs: int,
    sizes: Sizes,
    city: City,
    work_dir: Path,
    steps: Steps,
) -> list[baselines.Forwarded]:
    reports = [topics.REPORTS.name]
    done = []
    for n in range(runs):
        # reports only: the rate is set so the simulator yields about the wanted count
        records = simulated(city, sizes.baseline_events / 4, 10, seed=500 + n, topics=reports)
        result = steps.run(
            f"baseline {kind} run {n + 1}/{runs}",
            baselines.run,
            kind,
            bootstrap,
            n,
            records,
            work_dir,
        )
        steps.say(f"{result.rows:,}/{result.expected:,} forwarded, {result.rate:,.0f} ev/s")
        done.append(result)
    return done


def _describe(run: PipelineRun) -> str:
    sat = run.saturation
    parts = [f"start-up {run.startup_s:.1f} s"]
    if sat is not None:
        parts.append(f"{sat.rows:,}/{sat.expected:,} rows, {sat.rate:,.0f} ev/s")
    for latency in run.latencies:
        p = summary(latency)
        parts.append(f"{latency.rate:,.0f} ev/s: p99 {p['commit_p99']:,.0f} ms")
    parts.append(f"RSS {run.rss_bytes / 2**20:,.0f} MiB")
    return "; ".join(parts)


def pipeline_figures(
    results: report.Results,
    pipeline: list[PipelineRun],
    forwarded: dict[str, list[baselines.Forwarded]],
    offered: Sequence[float],
) -> None:
    rates = [r.saturation.rate for r in pipeline if r.saturation is not None]
    base = {kind: [f.rate for f in runs] for kind, runs in forwarded.items()}
    # bare forwarders: reports alone, decode and forward; they do none of the pipeline's work
    names = {
        "aiokafka": "bare forwarder: plain aiokafka loop",
        "faust": "bare forwarder: one-agent Faust",
        "quix": "bare forwarder: Quix Streams, classifying",
    }
    faust_median = statistics.median(base["faust"]) if base.get("faust") else 0.0
    if "faust" in base:
        # the SPEC's target names this forwarder; the ratio is not like with like
        results.figures.append(
            Figure(
                "whole pipeline throughput",
                "events/s, publish -> Postgres commit",
                runs=rates,
                baseline=names["faust"],
                baseline_runs=base["faust"],
                target=f"≥ 5,000 and ≥ the bare Faust forwarder ({faust_median:,.0f})",
                target_value=max(5_000.0, faust_median),
                note="See the profile below for where the worker's time goes.",
            )
        )
    for kind, runs in forwarded.items():
        results.figures.append(
            Figure(f"{names[kind]} (reports only)", "events/s, publish -> output", runs=base[kind])
        )
        incomplete = [f for f in runs if f.rows < f.expected]
        if incomplete:
            results.notes.append(f"{names[kind]}: {len(incomplete)} run(s) did not forward all")
    for kind, runs in forwarded.items():
        if runs:
            results.series[names[kind]] = runs[0].series
    if pipeline and pipeline[0].saturation is not None:
        results.series["civicgrid pipeline (to Postgres)"] = pipeline[0].saturation.series
    short = [r for r in pipeline if r.saturation and r.saturation.rows < r.saturation.expected]
    if short:
        results.notes.append(
            f"{len(short)} pipeline run(s) stalled before every event had its row: "
            + ", ".join(
                f"{r.saturation.rows:,}/{r.saturation.expected:,}" for r in short if r.saturation
            )
        )
    latency_figures(results, pipeline, offered)
    results.figures.append(
        Figure("start to first processed event", "s", runs=[r.startup_s for r in pipeline])
    )
    results.figures.append(
        Figure(
            "worker peak RSS, demo city",
            "MiB",
            runs=[r.rss_bytes / 2**20 for r in pipeline],
            higher_is_better=False,
        )
    )


def same_work_figures(
    results: report.Results,
    pipeline: list[PipelineRun],
    constant: list[PipelineRun],
    same: dict[str, list[baselines.SameWork]],
) -> None:
    """Every peer on the pipeline's own records; the ratios and the CPU each spent per event
    (from /proc, which a busy machine moves less than wall time)."""
    names = {
        "aiokafka-same": "aiokafka loop, same stateless work",
        "quix-same": "Quix Streams app, same stateless work",
    }
    rates = [r.saturation.rate for r in pipeline if r.saturation is not None]
    for kind, runs in same.items():
        results.figures.append(
            Figure(
                f"pipeline / {names[kind]}",
                "events/s, city mix, publish -> Postgres commit",
                runs=rates,
                baseline=names[kind],
                baseline_runs=[p.rate for p in runs],
                note="The peer has no case book, escalation or output topics "
                "(docs/performance.md).",
            )
        )
    results.figures.append(
        Figure(
            "pipeline, classifier stubbed to a constant",
            "events/s, city mix, publish -> Postgres commit",
            runs=[r.saturation.rate for r in constant if r.saturation is not None],
            baseline="pipeline, real classifier",
            baseline_runs=rates,
        )
    )
    cpu = {
        "pipeline worker, real classifier": [r.cpu_ms_per_event for r in pipeline],
        "pipeline worker, constant classifier": [r.cpu_ms_per_event for r in constant],
        **{names[kind]: [p.cpu_ms_per_event for p in runs] for kind, runs in same.items()},
    }
    for label, values in cpu.items():
        results.figures.append(
            Figure(f"CPU per event: {label}", "ms", runs=values, higher_is_better=False)
        )
    for kind, runs in same.items():
        short = [p for p in runs if p.drained.rows < p.drained.expected]
        if short:
            results.notes.append(f"{names[kind]}: {len(short)} run(s) did not write every row")
        if runs:
            results.series[names[kind]] = runs[0].drained.series


def latency_figures(
    results: report.Results, pipeline: list[PipelineRun], offered: Sequence[float]
) -> None:
    for what in ("commit", "dispatch"):
        results.latency[what] = {}
    for i, rate in enumerate(offered):
        per_run = [summary(r.latencies[i]) for r in pipeline if len(r.latencies) > i]
        for what in ("commit", "dispatch"):
            target = what == "commit" and rate == 1000.0
            results.latency[what][rate] = {
                q: statistics.median(p[f"{what}_{q}"] for p in per_run)
                for q in ("p50", "p95", "p99")
            }
            for q in ("p50", "p95", "p99"):
                results.figures.append(
                    Figure(
                        f"latency to {'Postgres commit' if what == 'commit' else 'dispatch'}"
                        f" {q} at {rate:,.0f} ev/s",
                        "ms",
                        runs=[p[f"{what}_{q}"] for p in per_run],
                        higher_is_better=False,
                        target="≤ 250" if target and q == "p99" else "",
                        target_value=250.0 if target and q == "p99" else None,
                        note="See the profile below.",
                    )
                )


def taizhou_figure(runs: int, sizes: Sizes, work_dir: Path, steps: Steps) -> Figure:
    figure = Figure(
        "worker peak RSS, Taizhou-scale registry",
        "MiB",
        higher_is_better=False,
        target="≤ 1,536 (1.5 GiB)",
        target_value=1.5 * GIB / 2**20,
    )
    city = generate_city("taizhou")
    with bench_stack("civicgrid-bench-taizhou-") as stack:
        steps.run(
            f"publish the Taizhou-scale city ({city.code_total:,} codes)",
            lambda: asyncio.run(publish_city(stack.bootstrap, city)),
        )
        for n in range(runs):
            peak = steps.run(
                f"Taizhou RSS run {n + 1}/{runs}",
                rss.peak_rss,
                stack,
                city,
                n,
                sizes.taizhou_events,
                work_dir,
            )
            steps.say(f"{peak / 2**20:,.0f} MiB")
            figure.runs.append(peak / 2**20)
    return figure


def _changes() -> str:
    """The 'what was changed and what it bought' section, kept in docs/performance.md."""
    text = PERFORMANCE_DOC.read_text() if PERFORMANCE_DOC.exists() else ""
    start = text.find("## What was changed")
    if start < 0:
        return ""
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


if __name__ == "__main__":
    main()
