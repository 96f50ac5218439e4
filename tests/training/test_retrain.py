"""The labelled examples a retrain takes from operators' corrections (issue 17)."""

from collections import Counter

from civicgrid.classifier_training import retrain
from civicgrid.classifier_training.head import WRITTEN_WEIGHT
from civicgrid.classifier_training.retrain import Correction


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
