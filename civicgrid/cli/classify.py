"""`civicgrid classify [FILE|-]`: civic.reports.v1 JSON lines in, one verdict per line out."""

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

import click
import orjson

from civicgrid.domain.classifier import Classifier
from civicgrid.domain.taxonomy import Taxonomy


def classify_lines(classifier: Classifier, lines: Iterable[str]) -> Iterator[dict[str, object]]:
    """One output object per non-blank input line; a bad line yields an error object, not a stop."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield {"line": number, **_classify_one(classifier, line)}
        except ValueError as error:
            yield {"line": number, "error": str(error)}


def _classify_one(classifier: Classifier, line: str) -> dict[str, object]:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as error:
        raise ValueError(f"invalid JSON: {error}") from None
    if not isinstance(value, dict):
        raise ValueError("a report must be a JSON object")
    description = value.get("description")
    if not isinstance(description, str):
        raise ValueError("description is required and must be a string")
    hint = _optional_text(value, "category_hint")
    # Not a civic.reports.v1 field: the pipeline learns it from the registry; here the caller may
    # pass it to reproduce what the pipeline would decide for a scanned code.
    kind = _optional_text(value, "element_kind")
    result = classifier.classify(description, category_hint=hint, element_kind=kind)
    head: dict[str, object] = {"event_id": value["event_id"]} if "event_id" in value else {}
    return {**head, **result.to_json()}


def _optional_text(value: dict[str, object], key: str) -> str | None:
    field = value.get(key)
    if field is None or isinstance(field, str):
        return field
    raise ValueError(f"{key} must be a string when given")


@click.command("classify")
@click.argument("source", metavar="[FILE|-]", type=click.File("r", encoding="utf-8"), default="-")
@click.option(
    "--overrides",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="City overrides of severity / lead / co / limit per category code (JSON).",
)
@click.option(
    "--model",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    envvar="CIVICGRID_CLASSIFIER_MODEL",
    help="Model file of the classifier head (.npz); default: the packaged one.",
)
def classify_command(source: IO[str], overrides: Path | None, model: Path | None) -> None:
    """Classify reports: JSON lines in, one JSON line out per input."""
    classifier = Classifier.default(Taxonomy.load(overrides), model)
    out = click.get_binary_stream("stdout")
    for result in classify_lines(classifier, source):
        out.write(orjson.dumps(result) + b"\n")
    out.flush()


if __name__ == "__main__":
    classify_command()
