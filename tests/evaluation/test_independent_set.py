"""The hand-written independent evaluation set is well formed and covers every cell it promises."""

import json
from collections import Counter
from pathlib import Path

from civicgrid.domain.taxonomy import Taxonomy

SET = Path(__file__).resolve().parents[2] / "evaluation" / "classifier" / "independent.jsonl"
STYLES = ("hotline", "worker", "oblique", "typo", "dialect", "second_matter", "long")
FIELDS = {"id", "text", "category", "severity", "style", "note"}


def _rows() -> list[dict[str, str]]:
    lines = SET.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_every_row_is_labelled_with_a_taxonomy_code_a_style_and_a_severity() -> None:
    taxonomy = Taxonomy.default()
    rows = _rows()
    assert len(rows) >= 760
    assert len({row["id"] for row in rows}) == len(rows)
    assert len({row["text"] for row in rows}) == len(rows)
    for row in rows:
        assert set(row) <= FIELDS, row["id"]
        assert row["category"] in taxonomy, row["id"]
        assert row["style"] in STYLES, row["id"]
        assert row["text"].strip(), row["id"]


def test_severity_is_the_category_default_unless_a_noted_hazard_raises_it_to_p1() -> None:
    taxonomy = Taxonomy.default()
    raised = 0
    for row in _rows():
        default = taxonomy.get(row["category"]).severity.value
        if row["severity"] == default:
            assert "note" not in row or not row["note"].startswith("raised"), row["id"]
        else:
            assert row["severity"] == "P1", row["id"]
            assert row["note"].startswith("raised to P1: "), row["id"]
            raised += 1
    assert raised > 0


def test_every_category_has_at_least_two_reports_in_every_style() -> None:
    cells = Counter((row["category"], row["style"]) for row in _rows())
    thin = [
        (category.code, style)
        for category in Taxonomy.default()
        for style in STYLES
        if cells[(category.code, style)] < 2
    ]
    assert thin == []


def test_typo_style_reports_carry_no_punctuation() -> None:
    marks = set("，。！？、；：,.!?;:")
    for row in _rows():
        if row["style"] == "typo":
            assert not marks & set(row["text"]), row["id"]
