import json
from pathlib import Path

import numpy as np
import pytest

from civicgrid.domain.classifier import Classifier, Head, packaged_head
from civicgrid.domain.embedding import DIM
from civicgrid.domain.taxonomy import Taxonomy
from civicgrid.schemas.enums import Severity
from tools.city import phrases as city_phrases
from tools.classifier_training import corpus, styled


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier.default()


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("小区门口的窨井盖被人偷了", "01002"),
        ("楼道里放了个煤气罐", "L0201"),
        ("路灯一闪一闪的", "01037"),
        ("楼道墙上全是牛皮癣", "07001"),
        ("电瓶车推进电梯上楼充电", "L0402"),
        ("共享单车堆在地铁口", "09010"),
    ],
)
def test_colloquial_words_find_their_category(classifier: Classifier, text: str, code: str) -> None:
    assert classifier.classify(text).category == code


def test_typos_still_classify(classifier: Classifier) -> None:
    assert classifier.classify("小区门口拉圾堆在路边没人清理").category == "06010"
    assert classifier.classify("路登坏了晚上黑乎乎").category == "01037"


def test_a_denied_object_does_not_vote(classifier: Classifier) -> None:
    result = classifier.classify("井盖没事，是路灯不亮")
    assert result.category == "01037"
    assert result.severity is Severity.P3
    assert result.secondary == ()
    assert any("fine" in reason for reason in result.reasons)


def test_two_matters_the_first_leads_both_owners_act_and_the_worse_sets_severity(
    classifier: Classifier,
) -> None:
    result = classifier.classify("路灯不亮，另外小区门口的井盖被偷了")
    assert result.category == "01037"
    assert "01002" in result.secondary
    assert result.departments[0] == "lighting"
    assert "drainage" in result.co_departments
    assert result.severity is Severity.P1
    assert result.level == "network"


def test_a_fragment_is_verified_not_raised(classifier: Classifier) -> None:
    for fragment in ("有人在楼", "有几", "在楼"):
        result = classifier.classify(fragment)
        assert result.severity is not Severity.P1 or result.hazards, fragment
        assert not any(reason.startswith("possible ") for reason in result.reasons)


def test_a_minor_second_matter_does_not_take_the_lead(classifier: Classifier) -> None:
    result = classifier.classify("楼下的自来水管爆了，水哗哗往外冒，另外门口贴了几张小广告")
    assert result.category == "10003"


@pytest.mark.parametrize(
    ("text", "hazard"),
    [
        ("路灯不亮，楼下闻到一股很浓的煤汽味", "gas_smell"),
        ("垃圾桶旁边电线掉在地上冒火花", "exposed_wire"),
        ("小区楼道堆满了纸箱，消防车进不来", "blocked_fire_lane"),
        ("广告牌被风吹得晃，随时会掉下来", "falling_object"),
        ("河边有小孩落水了", "person_in_danger"),
    ],
)
def test_hazards_raise_severity_whatever_the_category(
    classifier: Classifier, text: str, hazard: str
) -> None:
    result = classifier.classify(text)
    assert hazard in result.hazards
    assert result.severity is Severity.P1
    assert result.level == "network"


def test_a_negated_hazard_is_not_a_hazard(classifier: Classifier) -> None:
    result = classifier.classify("路灯坏了，没有闻到煤气味")
    assert result.hazards == ()
    assert result.severity is Severity.P3


def test_an_unsure_hazard_still_counts(classifier: Classifier) -> None:
    assert "gas_smell" in classifier.classify("楼下不知道是不是漏气").hazards


def test_a_small_matter_stays_in_the_grid(classifier: Classifier) -> None:
    result = classifier.classify("小区门口的垃圾桶满了没人倒")
    assert (result.category, result.severity, result.level) == ("03005", Severity.P3, "grid")
    assert result.departments == ("sanitation",)
    assert not result.needs_verification
    assert result.confidence > 0.5


def test_reasons_name_the_nearest_labelled_examples_and_the_head(classifier: Classifier) -> None:
    reasons = classifier.classify("晚上这条路黑得什么都看不见").reasons
    nearest = next(reason for reason in reasons if reason.startswith("nearest labelled: "))
    ids = [part.split()[0] for part in nearest.removeprefix("nearest labelled: ").split(", ")]
    known = {item.id for item in styled.written()}
    assert len(ids) == 3
    assert all(i.split("~")[0] in known or i.startswith("g-") for i in ids)
    assert any(classifier.head.meta["trained_on"] in reason for reason in reasons)


def test_the_scanned_kind_and_hint_are_signals(classifier: Classifier) -> None:
    vague = "这个坏了，麻烦来看看"
    by_kind = classifier.classify(vague, element_kind="manhole_cover")
    assert by_kind.category == "01002"
    assert any("manhole_cover" in reason for reason in by_kind.reasons)
    assert classifier.classify(vague, category_hint="路灯").category == "01037"


def test_a_wrong_hint_does_not_beat_clear_text(classifier: Classifier) -> None:
    assert (
        classifier.classify("楼下饭店煤气罐放在门口暴晒", category_hint="03005").category == "L0201"
    )


def test_city_overrides_reach_the_verdict(tmp_path: Path) -> None:
    path = tmp_path / "city.json"
    path.write_text(json.dumps({"03005": {"severity": "P2", "co": ["property_management"]}}))
    result = Classifier.default(Taxonomy.load(path)).classify("小区门口的垃圾桶满了没人倒")
    assert result.severity is Severity.P2
    assert result.departments == ("sanitation", "property_management")
    assert result.level == "network"


def test_json_shape(classifier: Classifier) -> None:
    out = classifier.classify("路灯不亮").to_json()
    assert {"category", "severity", "level", "departments", "confidence", "reasons"} <= out.keys()
    assert out["severity"] == "P3"


def test_the_packaged_model_names_its_training_data() -> None:
    meta = packaged_head().meta
    assert meta["encoder"].startswith("multilingual-e5-small")
    assert len(meta["trained_on"]) == 16
    assert set(meta["labels"]) == {category.code for category in Taxonomy.default()}


def test_the_simulator_set_stays_out_of_training() -> None:
    # The simulator's reports are an independent test set: no core complaint of
    # report_cores.tsv may occur in the training corpora.
    training = "\n".join(example.text for example in corpus.build())
    training += "\n".join(item.text for item in styled.written())
    cores = [core for cores in city_phrases.report_cores().values() for core in cores]
    assert [core for core in cores if core in training] == []


def test_every_category_is_written_in_every_style() -> None:
    written = {(item.category, item.style) for item in styled.written()}
    codes = {category.code for category in Taxonomy.default()}
    assert written == {(code, style) for code in codes for style in styled.STYLES}


def _two_label_classifier(caution_above: float) -> Classifier:
    # The vector leans to 01037 路灯 (P3) but leaves 01002 污水井盖 (P1) p≈0.38: a close call
    # between an urgent and an ordinary category.
    weights = np.zeros((2, DIM), dtype=np.float32)
    weights[1, 0] = 0.5
    head = Head(
        labels=("01002", "01037"),
        weights=weights,
        bias=np.zeros(2, dtype=np.float32),
        example_ids=(),
        example_labels=np.zeros(0, dtype=np.int64),
        example_vectors=np.zeros((0, DIM), dtype=np.float32),
        meta={"version": 2, "trained_on": "test"},
    )
    return Classifier(head, Taxonomy.default(), caution_above=caution_above)


def _unit() -> np.ndarray:
    vectors = np.zeros((1, DIM), dtype=np.float32)
    vectors[0, 0] = 1.0
    return vectors


def test_a_likely_urgent_category_raises_severity_and_is_verified() -> None:
    result = _two_label_classifier(caution_above=0.3).classify("路口那个灯盖坏了", vectors=_unit())
    assert result.category == "01037"
    assert result.severity is Severity.P1
    assert result.needs_verification
    assert result.level == "network"
    assert "drainage" in result.co_departments
    assert any(reason.startswith("possible 01002") for reason in result.reasons)


def test_below_the_caution_threshold_the_guess_keeps_its_severity() -> None:
    result = _two_label_classifier(caution_above=0.5).classify("路口那个灯盖坏了", vectors=_unit())
    assert (result.severity, result.needs_verification) == (Severity.P3, False)


def test_without_vectors_or_an_encoder_the_classifier_says_so() -> None:
    with pytest.raises(ValueError, match="encoder"):
        _two_label_classifier(caution_above=0.5).classify("灯盖")


def test_caution_never_fires_on_a_fragment() -> None:
    result = _two_label_classifier(caution_above=0.3).classify("灯盖", vectors=_unit())
    assert (result.severity, result.needs_verification) == (Severity.P3, False)


def test_caution_reads_the_corpus_heads_urgent_weight_when_the_head_is_surer() -> None:
    # A retrained head sure of 01037 (P3); the corpus head it kept still gives 01002 (P1) ~0.4.
    sure = np.zeros((2, DIM), dtype=np.float32)
    sure[1, 0] = 5.0
    corpus = np.zeros((2, DIM), dtype=np.float32)
    corpus[1, 0] = 0.4
    base = _two_label_classifier(caution_above=0.3).head
    retrained = Head(**{**{f: getattr(base, f) for f in Head.__slots__}, "weights": sure})
    alone = Classifier(retrained, Taxonomy.default(), caution_above=0.3)
    assert alone.classify("路口那个灯盖坏了", vectors=_unit()).severity is Severity.P3
    kept = Head(
        **{
            **{f: getattr(retrained, f) for f in Head.__slots__},
            "urgency_weights": corpus,
            "urgency_bias": np.zeros(2, dtype=np.float32),
        }
    )
    result = Classifier(kept, Taxonomy.default(), caution_above=0.3).classify(
        "路口那个灯盖坏了", vectors=_unit()
    )
    assert (result.category, result.severity) == ("01037", Severity.P1)
    assert any("(corpus head)" in reason for reason in result.reasons)
