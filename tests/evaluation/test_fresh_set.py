"""The fresh check set (written before session 5's tuning) is well formed and covers every cell."""

import json
from collections import Counter
from pathlib import Path

from civicgrid.domain.taxonomy import Taxonomy

SET = Path(__file__).resolve().parents[2] / "evaluation" / "classifier" / "fresh.jsonl"
INDEPENDENT = SET.with_name("independent.jsonl")
STYLES = ("hotline", "worker", "oblique", "typo", "dialect", "second_matter", "long")
FIELDS = {"id", "text", "category", "severity", "style", "note"}


def _rows(path: Path = SET) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_every_row_is_labelled_and_no_text_repeats_the_independent_set() -> None:
    taxonomy = Taxonomy.default()
    rows = _rows()
    assert len(rows) >= 252
    assert len({row["id"] for row in rows}) == len(rows)
    texts = {row["text"] for row in rows}
    assert len(texts) == len(rows)
    assert not texts & {row["text"] for row in _rows(INDEPENDENT)}
    for row in rows:
        assert set(row) <= FIELDS, row["id"]
        assert row["category"] in taxonomy, row["id"]
        assert row["style"] in STYLES, row["id"]


def test_severity_is_the_default_or_a_noted_raise_to_p1() -> None:
    taxonomy = Taxonomy.default()
    raised = 0
    for row in _rows():
        if row["severity"] != taxonomy.get(row["category"]).severity.value:
            assert row["severity"] == "P1", row["id"]
            assert row["note"].startswith("raised to P1: "), row["id"]
            raised += 1
    assert raised > 0


def test_every_category_appears_in_every_style_and_typos_carry_no_punctuation() -> None:
    rows = _rows()
    cells = Counter((row["category"], row["style"]) for row in rows)
    assert [(c.code, s) for c in Taxonomy.default() for s in STYLES if cells[(c.code, s)] < 1] == []
    marks = set("，。！？、；：,.!?;:")
    assert [r["id"] for r in rows if r["style"] == "typo" and marks & set(r["text"])] == []
