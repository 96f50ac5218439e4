"""Throughput of `civicgrid classify` on one core: JSON line in, verdict serialised out.

The sentence encoder is the whole cost, so two figures: distinct texts (every report encoded)
and the same texts again (the encoder's cache by text hash, as for resent reports).

Run: .venv/bin/python benchmarks/bench_classify.py
"""

import os
import sys
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ["OMP_NUM_THREADS"] = "1"

from civicgrid.classifier_training import corpus
from civicgrid.cli.classify import classify_lines
from civicgrid.domain.classifier import Classifier

REPORTS = 200


def run() -> dict[str, float]:
    """One pass over distinct held-out reports, pinned to a single CPU, then a cached pass."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    _, held_out = corpus.split(corpus.build())
    step = max(len(held_out) // REPORTS, 1)
    lines = [orjson.dumps({"description": e.text}).decode() for e in held_out[::step][:REPORTS]]
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
    return {
        "reports": len(lines),
        "seconds": seconds["distinct"],
        "reports_per_s": len(lines) / seconds["distinct"],
        # what one core would do alone: on a shared machine wall time also counts the others
        "reports_per_cpu_s": len(lines) / cpu["distinct"],
        "cached_reports_per_s": len(lines) / seconds["cached"],
    }


if __name__ == "__main__":
    result = run()
    print(
        f"{result['reports_per_s']:,.1f} reports/s on one core ({result['reports']:.0f} distinct"
        f" reports; {result['reports_per_cpu_s']:,.1f} per CPU-second); "
        f"{result['cached_reports_per_s']:,.0f} reports/s when the texts repeat"
    )
