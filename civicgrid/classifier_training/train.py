"""Trains the text model: multinomial logistic regression over character 1-3-grams (numpy).

Features are per-clause n-gram presence summed over the clauses, after the runtime's own
preprocessing (textfeatures), so the packaged model scores exactly what
Classifier.classify computes. Weights too small to change a decision are pruned to keep
the packaged file small and lookups short.
"""

import hashlib
import json
from collections import Counter
from pathlib import Path

import numpy as np

from civicgrid.classifier_training.corpus import Example
from civicgrid.domain import textfeatures

MODEL_PATH = Path(__file__).resolve().parent.parent / "domain" / "data" / "classifier_model.json"
MIN_COUNT = 2
EPOCHS = 30
BATCH = 256
LEARNING_RATE = 0.05
L2 = 1e-5
PRUNE_BELOW = 0.15


def fingerprint(examples: list[Example]) -> str:
    """Identifies the training data (and feature code) a model was trained on."""
    digest = hashlib.sha256()
    for example in examples:
        digest.update(f"{example.text}\t{example.category}\n".encode())
    digest.update(Path(textfeatures.__file__).read_bytes())
    return digest.hexdigest()[:16]


def train(examples: list[Example], seed: int = 7) -> dict[str, object]:
    labels = sorted({example.category for example in examples})
    label_index = {code: i for i, code in enumerate(labels)}
    grams = [
        [
            g
            for clause in textfeatures.report_ngrams(textfeatures.kept_clauses(e.text)[0])
            for g in clause
        ]
        for e in examples
    ]
    counts = Counter(gram for example_grams in grams for gram in set(example_grams))
    vocabulary = sorted(gram for gram, count in counts.items() if count >= MIN_COUNT)
    gram_index = {gram: i for i, gram in enumerate(vocabulary)}
    rows = [
        np.array([gram_index[g] for g in eg if g in gram_index], dtype=np.int64) for eg in grams
    ]
    targets = np.array([label_index[e.category] for e in examples])

    weights, bias = _fit(rows, targets, len(vocabulary), len(labels), seed)
    return {
        "version": 1,
        "method": "softmax regression, char 1-3-gram counts over clauses, Adam, L2, pruned",
        "trained_on": fingerprint(examples),
        "labels": labels,
        "bias": [round(float(b), 4) for b in bias],
        "weights": _pruned(vocabulary, weights),
    }


def save(model: dict[str, object], path: Path = MODEL_PATH) -> None:
    path.write_text(json.dumps(model, ensure_ascii=False, separators=(",", ":")), "utf-8")


def _fit(
    rows: list[np.ndarray], targets: np.ndarray, n_features: int, n_labels: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    weights = np.zeros((n_features, n_labels))
    bias = np.zeros(n_labels)
    moments = [
        np.zeros_like(weights),
        np.zeros_like(weights),
        np.zeros_like(bias),
        np.zeros_like(bias),
    ]
    step = 0
    for _ in range(EPOCHS):
        order = rng.permutation(len(rows))
        for start in range(0, len(order), BATCH):
            batch = order[start : start + BATCH]
            # Sparse by hand (numpy only): each example is a short list of feature indices, so
            # a dense batch x vocabulary matrix would cost far more than the lookups do.
            features = np.concatenate([rows[example] for example in batch])
            owner = np.repeat(np.arange(len(batch)), [len(rows[example]) for example in batch])
            logits = np.zeros((len(batch), n_labels))
            np.add.at(logits, owner, weights[features])
            logits += bias
            logits -= logits.max(axis=1, keepdims=True)
            probs = np.exp(logits)
            probs /= probs.sum(axis=1, keepdims=True)
            probs[np.arange(len(batch)), targets[batch]] -= 1.0
            probs /= len(batch)
            # Lazy Adam: only the rows of features present in the batch move (and decay under
            # L2), which keeps a step proportional to the batch, not to the vocabulary.
            touched, where = np.unique(features, return_inverse=True)
            grad = L2 * weights[touched]
            np.add.at(grad, where, probs[owner])
            step += 1
            rows_w, m_w, v_w = weights[touched], moments[0][touched], moments[1][touched]
            _adam(rows_w, grad, m_w, v_w, step)
            weights[touched], moments[0][touched], moments[1][touched] = rows_w, m_w, v_w
            _adam(bias, probs.sum(axis=0), moments[2], moments[3], step)
    return weights, bias


def _adam(param: np.ndarray, grad: np.ndarray, m: np.ndarray, v: np.ndarray, step: int) -> None:
    m *= 0.9
    m += 0.1 * grad
    v *= 0.999
    v += 0.001 * grad * grad
    m_hat = m / (1 - 0.9**step)
    v_hat = v / (1 - 0.999**step)
    param -= LEARNING_RATE * m_hat / (np.sqrt(v_hat) + 1e-8)


def _pruned(vocabulary: list[str], weights: np.ndarray) -> dict[str, list[float]]:
    pruned: dict[str, list[float]] = {}
    for gram, row in zip(vocabulary, weights, strict=True):
        flat: list[float] = []
        for label in np.flatnonzero(np.abs(row) >= PRUNE_BELOW):
            flat += [int(label), round(float(row[label]), 3)]
        if flat:
            pruned[gram] = flat
    return pruned
