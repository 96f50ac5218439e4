"""The classifier's vector work is done by `encode`, in one call per batch, so the pipeline can
run it off the event loop; the verdicts are the same as when the classifier does it itself."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from civicgrid.domain.casebook import CaseBook
from civicgrid.domain.classifier import Classifier, Head
from civicgrid.domain.embedding import E5Encoder, limit_blas_threads
from civicgrid.domain.gridwork import GridWork
from civicgrid.domain.taxonomy import Taxonomy
from civicgrid.schemas.enums import Channel, Role
from civicgrid.schemas.inbound import Report
from civicgrid.schemas.internal import GridEnvelope, Origin
from civicgrid.topics import catalogue as topics

TEXTS = (
    "小区门口的窨井盖不见了，很危险，晚上有人差点掉下去",
    "路灯不亮了，另外楼下的垃圾桶满了好几天没人清",  # two matters: segments encoded too
    "不是路灯的问题，是路面塌了一个大坑",  # a denial dropped before encoding
    "晚上这段路黑得伸手不见五指",
)


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier.default()


def test_encoded_verdicts_equal_the_classifiers_own(classifier: Classifier) -> None:
    encoded = classifier.encode(list(TEXTS))
    assert len(encoded) == len(TEXTS)
    for text, item in zip(TEXTS, encoded, strict=True):
        given = classifier.classify(text, vectors=item.vectors, nearest=item.nearest)
        searched_here = classifier.classify(text, vectors=item.vectors)
        assert given == searched_here  # every field, the reasons' nearest examples included
        assert any(reason.startswith("nearest labelled: ") for reason in given.reasons)


def _reports(texts: tuple[str, ...]) -> list[GridEnvelope]:
    t0 = datetime(2026, 3, 2, 1, tzinfo=UTC)
    return [
        GridEnvelope(
            kind="report",
            grid_id="g1",
            origin=Origin(topic=topics.REPORTS.name, partition=0, offset=n),
            report=Report(
                event_id=uuid.UUID(int=n + 1),
                occurred_at=t0 + timedelta(minutes=n),
                schema_version=1,
                channel=Channel.APP,
                lat=32.45 + n / 100,
                lon=119.92,
                description=text,
                reporter_id=f"h{n}",
                reporter_role=Role.RESIDENT,
            ),
        )
        for n, text in enumerate(texts)
    ]


def test_the_plan_does_no_vector_work_given_the_shells_vectors(
    classifier: Classifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    taxonomy = Taxonomy.default()
    work = GridWork(classifier, taxonomy)
    envelopes = _reports(TEXTS)
    expected = [c.to_json() for c in work.plan(envelopes, set(), CaseBook()).classifications]
    embedded = work.embed(envelopes)  # what the grid stage runs in its encoder threads

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("vector work in the plan, on the event loop")

    monkeypatch.setattr(Head, "nearest", forbidden)
    monkeypatch.setattr(E5Encoder, "embed", forbidden)
    plan = work.plan(envelopes, set(), CaseBook(), embedded)
    assert [c.to_json() for c in plan.classifications] == expected


def test_numpys_blas_runs_on_one_thread() -> None:
    """OpenBLAS split each small product over both shared cores: 1.5 ms of CPU against 50 us."""
    assert limit_blas_threads(1) is not None  # numpy's wheels ship OpenBLAS
    assert limit_blas_threads(1) == 1
