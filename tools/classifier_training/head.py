"""`python -m tools.classifier_training.head`: train the classifier's head into a model file.

Examples: a per-category sample of the generated corpus (corpus.py) plus the styled corpus
(styled.py), plus any extra labelled examples (`--extra file.jsonl`, one {"id", "text",
"category"} object per line: e.g. operators' corrections). Each text is encoded once (cached
under build/, vectors.py); the head is a scikit-learn multinomial logistic regression, stored as
plain arrays in an .npz that the runtime applies with numpy alone (classifier.load_head). The
file carries its format version, the encoder's name and the fingerprint of its training data.

`--tune` scores settings on the dev side (the generated corpus's held-out cores and one written
report in five of the styled corpus) and changes nothing; the independent evaluation set takes
no part in training or tuning.
"""

import argparse
import hashlib
import json
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from civicgrid.domain.classifier import MODEL_FILE, Classifier, Head, main_text
from civicgrid.domain.embedding import Encoder
from civicgrid.domain.taxonomy import Taxonomy
from tools.classifier_training import corpus, styled
from tools.classifier_training.vectors import DiskCachedEncoder

MODEL_PATH = Path(__file__).resolve().parents[1] / "domain" / MODEL_FILE
FORMAT_VERSION = 2
GENERATED_PER_CATEGORY = 160
GENERATED_DEV_PER_CATEGORY = 30
# The generated texts are many and alike; the written ones carry the hard wording.
WRITTEN_WEIGHT = 2.0
# Dev, head alone: C=1 0.804, 3 0.838, 10 0.855, 30 0.865 (100: 0.867, slower to fit).
C = 30.0
EXAMPLES_KEPT_PER_CATEGORY = 60  # per category, for the "nearest labelled" reasons


@dataclass(frozen=True, slots=True)
class Labelled:
    id: str
    text: str
    category: str
    weight: float = 1.0
    style: str = "generated"
    p1: bool = False


def generated(side: int, per_category: int, seed: int = 1) -> list[Labelled]:
    """A per-category sample of the generated corpus: side 0 = training cores, 1 = held-out."""
    examples = corpus.split(corpus.build())[side]
    by_category: dict[str, list[corpus.Example]] = defaultdict(list)
    for example in examples:
        by_category[example.category].append(example)
    rng = random.Random(seed)
    out = []
    for code in sorted(by_category):
        for e in rng.sample(by_category[code], min(per_category, len(by_category[code]))):
            key = hashlib.sha256(e.text.encode()).hexdigest()[:10]
            out.append(Labelled(f"g-{key}", e.text, e.category, 1.0, "generated", e.p1))
    return out


def training_examples(extra: Iterable[Labelled] = ()) -> list[Labelled]:
    written = [
        Labelled(s.id, s.text, s.category, WRITTEN_WEIGHT, s.style, s.p1)
        for s in styled.corpus()[0]
    ]
    return generated(0, GENERATED_PER_CATEGORY) + written + list(extra)


def dev_examples() -> list[Labelled]:
    written = [Labelled(s.id, s.text, s.category, 1.0, s.style, s.p1) for s in styled.corpus()[1]]
    return generated(1, GENERATED_DEV_PER_CATEGORY) + written


def fingerprint(examples: Sequence[Labelled], encoder_name: str) -> str:
    digest = hashlib.sha256(f"{FORMAT_VERSION}\t{encoder_name}\n".encode())
    for example in sorted(examples, key=lambda e: (e.text, e.category)):
        digest.update(f"{example.text}\t{example.category}\t{example.weight}\n".encode())
    return digest.hexdigest()[:16]


def fit(
    examples: Sequence[Labelled], encoder: Encoder, c: float = C, urgency: Head | None = None
) -> Head:
    """A head on `examples`; its urgency head is `urgency`'s (a retrain keeps the corpus
    head's, retrain.py) or, for a corpus head, its own weights."""
    from sklearn.linear_model import LogisticRegression

    labels = sorted({example.category for example in examples})
    index = {code: i for i, code in enumerate(labels)}
    vectors = encoder.embed([main_text(example.text) for example in examples])
    targets = np.array([index[example.category] for example in examples])
    weights = np.array([example.weight for example in examples])
    model = LogisticRegression(C=c, max_iter=3000)
    model.fit(vectors, targets, sample_weight=weights)
    kept = _kept_examples(examples)
    meta = {
        "version": FORMAT_VERSION,
        "encoder": encoder.name,
        "method": f"multinomial logistic regression (scikit-learn, C={c}) on sentence vectors",
        "trained_on": fingerprint(examples, encoder.name),
        "examples": len(examples),
        "labels": labels,
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    weights = model.coef_.astype(np.float32)
    bias = model.intercept_.astype(np.float32)
    urgency_weights, urgency_bias = weights, bias
    if urgency is not None:
        if tuple(labels) != urgency.labels or urgency.urgency_weights is None:
            raise ValueError("the urgency head must be a corpus head over the same labels")
        urgency_weights, urgency_bias = urgency.urgency_weights, urgency.urgency_bias
        meta["urgency_from"] = urgency.meta.get("urgency_from", urgency.meta["trained_on"])
    else:
        meta["urgency_from"] = meta["trained_on"]
    return Head(
        labels=tuple(labels),
        weights=weights,
        bias=bias,
        example_ids=tuple(examples[i].id for i in kept),
        example_labels=targets[kept],
        example_vectors=vectors[kept],
        meta=meta,
        urgency_weights=urgency_weights,
        urgency_bias=urgency_bias,
    )


def _kept_examples(examples: Sequence[Labelled]) -> list[int]:
    """Which examples the model file keeps for the reasons: written ones first, per category."""
    by_category: dict[str, list[int]] = defaultdict(list)
    order = sorted(range(len(examples)), key=lambda i: examples[i].style == "generated")
    for i in order:
        if len(by_category[examples[i].category]) < EXAMPLES_KEPT_PER_CATEGORY:
            by_category[examples[i].category].append(i)
    return sorted(i for rows in by_category.values() for i in rows)


def save(head: Head, path: Path = MODEL_PATH) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    urgency = head.urgency_weights
    with path.open("wb") as handle:
        np.savez_compressed(
            handle,
            meta=np.array(json.dumps(head.meta, ensure_ascii=False)),
            weights=head.weights.astype(np.float32),
            bias=head.bias.astype(np.float32),
            example_ids=np.array(head.example_ids),
            example_labels=head.example_labels.astype(np.int16),
            example_vectors=head.example_vectors.astype(np.float16),
            urgency_weights=head.weights if urgency is None else urgency,
            urgency_bias=head.bias if head.urgency_bias is None else head.urgency_bias,
        )


def read_extra(path: Path) -> list[Labelled]:
    out = []
    for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
        if line.strip():
            row = json.loads(line)
            out.append(
                Labelled(
                    str(row.get("id", f"x-{number}")),
                    row["text"],
                    row["category"],
                    float(row.get("weight", WRITTEN_WEIGHT)),
                    "extra",
                )
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=MODEL_PATH, help="model file to write")
    parser.add_argument("--extra", type=Path, action="append", default=[], help="JSONL examples")
    parser.add_argument("--tune", action="store_true", help="score settings on the dev side")
    args = parser.parse_args()
    encoder = DiskCachedEncoder()
    extra = [row for path in args.extra for row in read_extra(path)]
    if args.tune:
        from tools.classifier_training.tune import tune

        tune(training_examples(extra), dev_examples(), encoder)
        return
    examples = training_examples(extra)
    head = fit(examples, encoder)
    save(head, args.out)
    taxonomy = Taxonomy.default()
    Classifier(head, taxonomy)  # the labels must be the taxonomy's
    print(f"{len(examples)} examples -> {args.out} ({head.version})")


if __name__ == "__main__":
    main()
