"""Throughput of `civicgrid classify` on one core: JSON line in, verdict serialised out.

Run: .venv/bin/python benchmarks/bench_classify.py
"""

import os
import sys
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from civicgrid.classifier_training import corpus
from civicgrid.cli.classify import classify_lines
from civicgrid.domain.classifier import Classifier

REPORTS = 6000
ROUNDS = 3


def run() -> dict[str, float]:
    """Best of ROUNDS passes over held-out reports, pinned to a single CPU."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    _, held_out = corpus.split(corpus.build())
    lines = [
        orjson.dumps({"description": held_out[i % len(held_out)].text}).decode()
        for i in range(REPORTS)
    ]
    classifier = Classifier.default()
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for result in classify_lines(classifier, lines):
            orjson.dumps(result)
        best = min(best, time.perf_counter() - start)
    return {"reports": REPORTS, "seconds": best, "reports_per_s": REPORTS / best}


if __name__ == "__main__":
    result = run()
    print(f"{result['reports_per_s']:,.0f} reports/s on one core ({REPORTS} reports)")
