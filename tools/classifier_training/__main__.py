"""`python -m tools.classifier_training [--retrain]` (`make eval`): score the packaged
classifier on the dev side, the older independent checks and, when it is there, the
independent evaluation set (evaluation/classifier/independent.jsonl), then its speed.

`--retrain` first trains the head again (classifier_training.head) on the training side;
`--no-simulator` and `--no-bench` leave out the simulator sets and the speed figure (each text
costs ~50 ms to encode the first time: a loaded machine may want to skip them).
"""

import sys
from pathlib import Path

from civicgrid.domain.classifier import Classifier, packaged_head
from civicgrid.domain.taxonomy import Taxonomy
from tools.classifier_training import corpus, evaluate, head
from tools.classifier_training.tune import as_examples
from tools.classifier_training.vectors import DiskCachedEncoder

EVALUATION = Path(__file__).resolve().parents[2] / "evaluation" / "classifier"
INDEPENDENT = EVALUATION / "independent.jsonl"
FRESH = EVALUATION / "fresh.jsonl"


def main(argv: list[str]) -> None:
    encoder = DiskCachedEncoder()
    examples = head.training_examples()
    if "--retrain" in argv:
        print(f"training on {len(examples)} examples ...", flush=True)
        head.save(head.fit(examples, encoder))
        packaged_head.cache_clear()
    model = packaged_head()
    fresh = model.meta["trained_on"] == head.fingerprint(examples, encoder.name)
    classifier = Classifier(model, Taxonomy.default(), encoder)
    columns: dict[str, evaluate.Scores] = {}
    if INDEPENDENT.exists():
        columns["independent"] = evaluate.score(classifier, evaluate.independent_set(INDEPENDENT))
    if FRESH.exists():
        columns["fresh"] = evaluate.score(classifier, evaluate.independent_set(FRESH))
    columns["dev"] = evaluate.score(classifier, as_examples(head.dev_examples()))
    columns["handwritten"] = evaluate.score(classifier, corpus.handwritten())
    if "--no-simulator" not in argv:
        columns["simulator"] = evaluate.score(classifier, corpus.simulator(with_hint=False))
        columns["simulator+hint"] = evaluate.score(classifier, corpus.simulator(with_hint=True))
    from benchmarks.bench_classify import run as bench

    speed = {"reports_per_s": float("nan"), "cached_reports_per_s": float("nan")}
    if "--no-bench" not in argv:
        speed = bench()
    notes = [
        f"Model: head {model.version}, {model.meta['method']}, {model.meta['examples']} training "
        f"examples{'' if fresh else ' (NOT the current training data: run --retrain)'}.",
        "",
        "- independent: `evaluation/classifier/independent.jsonl`, written by another engineer",
        "  apart from the generator and the training corpus; never trained or tuned on.",
        "- fresh: `evaluation/classifier/fresh.jsonl`, 262 reports written in session 5 before",
        "  any of its tuning (provenance in evaluation/classifier/README.md); only scored.",
        "- dev: the generated corpus's held-out cores (a sample) and one written report in five",
        "  of the styled corpus with its variants; settings were chosen here.",
        "- handwritten: 40 reports written apart from the generator, never trained on.",
        "- simulator: every core of `tools/city/report_cores.tsv` rendered by the city",
        "  simulator's `describe`; `+hint` passes the true category as category_hint.",
        "",
        f"Throughput, one core: {speed['reports_per_s']:,.1f} reports/s on distinct texts, "
        f"{speed['cached_reports_per_s']:,.0f} reports/s when texts repeat (encoder cache)."
        if speed["reports_per_s"] == speed["reports_per_s"]
        else "Throughput not measured in this run (--no-bench): `benchmarks/bench_classify.py`.",
    ]
    evaluate.write_report(
        columns, notes, tuple(n for n in ("independent", "fresh") if n in columns)
    )
    for name, scores in columns.items():
        print(
            f"{name} n={scores.n} category={scores.accuracy:.3f} "
            f"severity={scores.severity_accuracy:.3f} p1_recall={scores.p1_recall:.3f} "
            f"raised={scores.raised_rate:.3f}; by style: "
            + " ".join(f"{k}={v:.3f}" for k, v in scores.by_source.items())
        )
    print(f"{speed['reports_per_s']:,.1f} reports/s -> {evaluate.RESULTS}")


main(sys.argv[1:])
