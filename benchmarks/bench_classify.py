"""What the classifier costs: reports/s with the real encoder, one report at a time and in the
grid stage's batches, and (with --pipeline) the whole pipeline with the real classifier against
the same pipeline with the classifier stubbed, in the same run.

The sentence encoder is the whole cost, so the figures are: distinct texts one at a time as
`civicgrid classify` reads them (every report encoded), distinct texts in batches of
BATCH as the grid stage reads them (`Classifier.encode` in one call, then `classify` with the
vectors), and the same texts again (the encoder's cache by text hash, as for resent reports).
The machine is shared: the CPU-second figures (what one core would do alone) move less than the
wall-clock ones.

Run: .venv/bin/python -m benchmarks.bench_classify [--pipeline EVENTS]
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ["OMP_NUM_THREADS"] = "1"

from civicgrid.cli.classify import classify_lines
from civicgrid.domain.classifier import Classifier
from tools.classifier_training import corpus

REPORTS = 200
BATCH = 32  # the grid stage's reports per transaction (agents/grid_stage.py)


def run() -> dict[str, float]:
    """Distinct held-out reports one at a time, pinned to a single CPU, then a cached pass,
    then other distinct reports in batches (a fresh classifier: an empty cache)."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    _, held_out = corpus.split(corpus.build())
    step = max(len(held_out) // (2 * REPORTS), 1)
    texts = [e.text for e in held_out[::step]]
    single, batched = texts[0 : 2 * REPORTS : 2], texts[1 : 2 * REPORTS : 2]
    lines = [orjson.dumps({"description": text}).decode() for text in single]
    classifier = Classifier.default()
    classifier.classify("预热")  # the engine loads its weights on first use
    seconds = {}
    cpu = {}
    for name in ("distinct", "cached"):
        start, start_cpu = time.perf_counter(), time.process_time()
        for result in classify_lines(classifier, lines):
            orjson.dumps(result)
        seconds[name] = time.perf_counter() - start
        cpu[name] = time.process_time() - start_cpu
    classifier = Classifier.default()
    classifier.classify("预热")
    start, start_cpu = time.perf_counter(), time.process_time()
    for first in range(0, len(batched), BATCH):
        chunk = batched[first : first + BATCH]
        for text, encoded in zip(chunk, classifier.encode(chunk), strict=True):
            verdict = classifier.classify(text, vectors=encoded.vectors, nearest=encoded.nearest)
            orjson.dumps(verdict.to_json())
    seconds["batch"] = time.perf_counter() - start
    cpu["batch"] = time.process_time() - start_cpu
    return {
        "reports": len(lines),
        "seconds": seconds["distinct"],
        "reports_per_s": len(lines) / seconds["distinct"],
        # what one core would do alone: on a shared machine wall time also counts the others
        "reports_per_cpu_s": len(lines) / cpu["distinct"],
        "cached_reports_per_s": len(lines) / seconds["cached"],
        "batch_reports_per_s": len(batched) / seconds["batch"],
        "batch_reports_per_cpu_s": len(batched) / cpu["batch"],
    }


def pipeline(events: int) -> dict[str, dict[str, float]]:
    """One saturation run of the whole pipeline (a `civicgrid run` process on a fresh broker and
    database) with the real classifier, then one with it stubbed, on the same records."""
    from benchmarks.pipeline import PipelineBench
    from benchmarks.stack import bench_stack
    from tools.city.generate import generate_city

    work_dir = Path(tempfile.mkdtemp(prefix="civicgrid-bench-classify-"))
    out: dict[str, dict[str, float]] = {}
    with bench_stack("civicgrid-bench-classify-") as stack:
        for name, constant in (("real", False), ("stubbed", True)):
            bench = PipelineBench(stack, generate_city("demo"), work_dir, events, (), 1.0, constant)
            result = bench.run(0)
            drained = result.saturation
            assert drained is not None
            out[name] = {
                "rows": drained.rows,
                "expected": drained.expected,
                "events_per_s": drained.rate,
                "cpu_ms_per_event": result.cpu_ms_per_event,
            }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pipeline", type=int, default=0, metavar="EVENTS", help="also the pipeline, real/stubbed"
    )
    args = parser.parse_args()
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    result = run()
    print(
        f"one at a time: {result['reports_per_s']:,.1f} reports/s on one core "
        f"({result['reports']:.0f} distinct reports; {result['reports_per_cpu_s']:,.1f} per "
        f"CPU-second); batches of {BATCH}: {result['batch_reports_per_s']:,.1f} reports/s "
        f"({result['batch_reports_per_cpu_s']:,.1f} per CPU-second); "
        f"{result['cached_reports_per_s']:,.0f} reports/s when the texts repeat"
    )
    if args.pipeline:
        if affinity is not None:
            os.sched_setaffinity(0, affinity)  # run() pinned this process to one CPU
        runs = pipeline(args.pipeline)
        for name, figures in runs.items():
            print(
                f"pipeline, {name} classifier: {figures['rows']:,.0f}/{figures['expected']:,.0f} "
                f"rows, {figures['events_per_s']:,.0f} ev/s, "
                f"{figures['cpu_ms_per_event']:.2f} ms worker CPU per event"
            )


if __name__ == "__main__":
    main()
