"""The issue's acceptance run: 10,000 valid and 10,000 malformed records from the fuzz corpus."""

import base64
import gzip
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from civicgrid.schemas.enums import DeadLetterKind
from civicgrid.schemas.outbound import DeadLetter
from civicgrid.schemas.parse import IntakeError, parse_inbound

CORPUS = Path(__file__).parent.parent / "data" / "fuzz_corpus.jsonl.gz"


def _bytes(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)


def _records() -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in gzip.decompress(CORPUS.read_bytes()).splitlines()]


def test_corpus_splits_into_exactly_the_expected_outcomes() -> None:
    processed = 0
    dead: list[DeadLetter] = []
    wrong: Counter[tuple[str, str]] = Counter()
    expected: Counter[str] = Counter()
    for offset, record in enumerate(_records()):
        expected[record["expect"]] += 1
        value = _bytes(record["value"])
        headers = [(name, _bytes(raw)) for name, raw in record["headers"]]
        try:
            parse_inbound(record["topic"], _bytes(record["key"]), value, headers)
        except IntakeError as error:
            dead.append(
                DeadLetter.of(
                    value=value,
                    topic=record["topic"],
                    partition=0,
                    offset=offset,
                    kind=error.kind,
                    message=error.message,
                )
            )
            got = error.kind.value
            assert dead[-1].value == record["value"]  # the original bytes, base64, untouched
        else:
            processed += 1
            got = "ok"
        if got != record["expect"]:
            wrong[(record["expect"], got)] += 1

    assert processed == 10_000
    assert len(dead) == 10_000
    assert not wrong, wrong


def test_corpus_covers_every_kind_the_parser_can_produce() -> None:
    edge_kinds = {
        DeadLetterKind.INVALID_UTF8,
        DeadLetterKind.INVALID_JSON,
        DeadLetterKind.OVERSIZE,
        DeadLetterKind.SCHEMA,
        DeadLetterKind.UNSUPPORTED_VERSION,
        DeadLetterKind.BAD_KEY,
        DeadLetterKind.CLOUDEVENTS_MISMATCH,
    }
    kinds = Counter(record["expect"] for record in _records())
    assert set(kinds) == {"ok"} | {kind.value for kind in edge_kinds}
    assert kinds["ok"] == 10_000
