"""`python -m tools.classifier_training.corrections_eval` (`make eval`): the correction loop
of issue 17 simulated in a city whose wording differs from the corpus.

岭湾 (evaluation/classifier/second_city.py) writes Cantonese: 沙井盖, 街招, 走鬼, 唔见咗. Its
operators' corrections are drawn from the generator's "corrections" side; accuracy is measured on
its "test" side, whose predicates, openers, closers and frames no correction used. Each step
retrains the head on the whole training corpus plus the first k corrections (retrain.py, the
code `civicgrid classifier retrain` runs) and scores the full classifier (rules, clauses,
hazards: evaluate.score) on the same test reports. Two ways to count k:

- labelled: the operators label the first k reports they review, right or wrong (a confirmed
  report teaches as much as a corrected one; the platform stores only corrections, so this is
  the upper line);
- corrected: of the first 2,000 reports reviewed, only those the shipped head got wrong (what
  `classification_corrections` would hold after 2,000 reviewed reports).

Every text is encoded once: vectors are cached on disk by text hash (vectors.py, build/).
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from civicgrid.domain.classifier import Classifier, Head, main_text, packaged_head
from civicgrid.domain.taxonomy import Taxonomy
from evaluation.classifier.second_city import Report, generate
from tools.classifier_training import evaluate, retrain
from tools.classifier_training.corpus import Example
from tools.classifier_training.vectors import DiskCachedEncoder

STEPS = (100, 500, 2000)  # after; before is the shipped head, trained on the corpus alone
REVIEWED = 2000
TEST = 360  # ten per category
RESULTS = evaluate.RESULTS / "classifier_corrections.md"


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    corrections: int
    scores: evaluate.Scores


def _as_corrections(reports: list[Report]) -> list[retrain.Correction]:
    return [
        retrain.Correction(f"sim-{i}", f"sim-{i}", report.text, report.category)
        for i, report in enumerate(reports)
    ]


def _test_set() -> list[Example]:
    return [
        Example(r.text, r.category, r.severity == "P1", "second_city", ())
        for r in generate("test", TEST, seed=0)
    ]


def wrong_by(model: Head, reports: list[Report], encoder: DiskCachedEncoder) -> list[Report]:
    """The reports the head alone gets wrong on their main text (what an operator corrects)."""
    vectors = encoder.embed([main_text(report.text) for report in reports])
    said = np.asarray(model.logits(vectors)).argmax(axis=1)
    return [r for r, i in zip(reports, said, strict=True) if model.labels[i] != r.category]


def run() -> list[Step]:
    encoder = DiskCachedEncoder()
    taxonomy = Taxonomy.default()
    test = _test_set()
    reviewed = generate("corrections", REVIEWED, seed=0)
    base = retrain.corpus_sample(None)

    def scored(name: str, corrections: list[Report]) -> Step:
        model = retrain.retrain(_as_corrections(corrections), encoder, base)
        scores = evaluate.score(Classifier(model, taxonomy, encoder), test)
        print(f"{name}: {len(corrections)} corrections -> category {scores.accuracy:.3f}")
        return Step(name, len(corrections), scores)

    steps = [
        Step(
            "shipped head", 0, evaluate.score(Classifier(packaged_head(), taxonomy, encoder), test)
        )
    ]
    steps += [scored("labelled", reviewed[:k]) for k in STEPS]
    steps.append(scored("corrected", wrong_by(packaged_head(), reviewed, encoder)))
    return steps


def write(steps: list[Step], path: Path = RESULTS) -> None:
    lines = [
        "# The correction loop in a second city (`make eval`)",
        "",
        "Written by `python -m tools.classifier_training.corrections_eval`; the method is in",
        "its docstring. Test: "
        f"{steps[0].scores.n} reports of 岭湾's held-out test side (10 per category).",
        "",
        "| head | corrections | category | severity | P1 recall | non-P1 raised to P1 |",
        "|---|---|---|---|---|---|",
    ]
    for step in steps:
        s = step.scores
        lines.append(
            f"| {step.name} | {step.corrections} | {s.accuracy:.1%} | "
            f"{s.severity_accuracy:.1%} | {s.p1_recall:.1%} | {s.raised_rate:.1%} |"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    steps = run()
    write(steps)
    print(f"-> {RESULTS}")


if __name__ == "__main__":
    main()
