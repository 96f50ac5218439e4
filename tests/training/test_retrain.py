"""The labelled examples a retrain takes from operators' corrections (issue 17)."""

from collections import Counter

import numpy as np

from tools.classifier_training import retrain
from tools.classifier_training.head import WRITTEN_WEIGHT, Labelled, fit
from tools.classifier_training.retrain import Correction


def test_a_report_corrected_twice_teaches_its_last_category_once() -> None:
    corrections = [
        Correction("u1", "r1", "路口下面畀水淘空咗", "10003"),
        Correction("u2", "r2", "街招贴满成条柱", "07001"),
        Correction("u3", "r1", "路口下面畀水淘空咗", "10001"),  # the operator's second thought
    ]
    examples = retrain.examples(corrections)
    assert [(e.id, e.category) for e in examples] == [("c-u3", "10001"), ("c-u2", "07001")]
    assert {e.weight for e in examples} == {WRITTEN_WEIGHT}  # as much as a written example


def test_a_quick_corpus_sample_covers_every_category_evenly() -> None:
    sample = retrain.corpus_sample(3)
    per_category = Counter(e.category for e in sample)
    assert len(per_category) == 36
    assert set(per_category.values()) == {3}
    assert retrain.corpus_sample(3) == sample  # repeatable: the same file from the same data


class _Encoder:
    """Deterministic vectors per text: enough for a head to fit, no model needed."""

    name = "test-encoder"

    def embed(self, texts: list[str]) -> "np.ndarray":
        from civicgrid.domain.embedding import DIM

        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for row, text in enumerate(texts):
            out[row, ord(text[0]) % 8] = 1.0
            out[row, 8 + len(text) % 8] = 1.0
        return out


def test_a_retrained_head_keeps_the_corpus_heads_urgency() -> None:
    base = [
        Labelled(f"b{i}", text, code)
        for i, (text, code) in enumerate(
            [
                ("井盖没了", "01002"),
                ("井盖碎了一块", "01002"),
                ("路灯不亮", "01037"),
                ("路灯一闪一闪", "01037"),
            ]
        )
    ]
    encoder = _Encoder()
    corpus_head = fit(base, encoder, urgency=None)
    corrections = [
        Correction("u1", "r1", "沙井盖冇咗", "01002"),
        Correction("u2", "r2", "街灯唔着", "01037"),
    ]
    trained = retrain.retrain(corrections, encoder, base, urgency=corpus_head)
    assert trained.urgency_weights is not None
    assert corpus_head.urgency_weights is not None
    assert np.array_equal(trained.urgency_weights, corpus_head.weights)
    assert not np.array_equal(trained.weights, corpus_head.weights)
    assert trained.meta["urgency_from"] == corpus_head.meta["trained_on"]
