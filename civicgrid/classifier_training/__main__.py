"""`python -m civicgrid.classifier_training [--retrain]`: train if needed, then evaluate."""

import json
import sys

from civicgrid.classifier_training import corpus, evaluate, train
from civicgrid.domain.classifier import Classifier


def main(argv: list[str]) -> None:
    train_set, held_out = corpus.split(corpus.build())
    current = json.loads(train.MODEL_PATH.read_text("utf-8")) if train.MODEL_PATH.exists() else {}
    if "--retrain" in argv or current.get("trained_on") != train.fingerprint(train_set):
        print(f"training on {len(train_set)} examples ...", flush=True)
        train.save(train.train(train_set))
    classifier = Classifier.default()
    scores = evaluate.score(classifier, held_out)
    independent = {
        "handwritten": evaluate.score(classifier, corpus.handwritten()),
        "simulator": evaluate.score(classifier, corpus.simulator(with_hint=False)),
        "simulator+hint": evaluate.score(classifier, corpus.simulator(with_hint=True)),
    }
    from benchmarks.bench_classify import run as bench

    speed = bench()
    evaluate.write_report(scores, independent, len(train_set), float(speed["reports_per_s"]))
    print(
        f"held-out n={scores.n} accuracy={scores.accuracy:.3f} macro_f1={scores.macro_f1:.3f} "
        f"p1_recall={scores.p1_recall:.3f}; "
        + "; ".join(
            f"{name} accuracy={s.accuracy:.3f} p1_recall={s.p1_recall:.3f}"
            for name, s in independent.items()
        )
        + f"; {speed['reports_per_s']:,.0f} reports/s -> {evaluate.RESULTS}"
    )


main(sys.argv[1:])
