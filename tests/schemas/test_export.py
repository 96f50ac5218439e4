"""The exported JSON Schema files are the schemas the parser validates with."""

import base64
import gzip
import json
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import orjson
import pytest
from click.testing import CliRunner

from civicgrid.cli.schemas_cmd import schemas_group
from civicgrid.schemas.export import TOPIC_MODELS, export_json_schemas, schema_path
from civicgrid.schemas.inbound import Report
from civicgrid.topics import BY_GRID, CATALOGUE, by_name, inbound_events, state_topics

CORPUS = Path(__file__).parent.parent / "data" / "fuzz_corpus.jsonl.gz"


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("schemas")
    export_json_schemas(directory)
    return directory


def _load(directory: Path, topic: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(schema_path(directory, topic).read_text("utf-8"))
    return loaded


def test_one_file_per_published_topic_equal_to_the_model_schema(exported: Path) -> None:
    published = {spec.name for spec in CATALOGUE if spec.value_model is not None}
    assert {p.name for p in exported.iterdir()} == {f"{t}.schema.json" for t in published}
    for model in TOPIC_MODELS:
        assert _load(exported, model.TOPIC) == model.model_json_schema()
        assert by_name(model.TOPIC).value_model is model


def test_valid_corpus_records_pass_the_exported_schemas(exported: Path) -> None:
    validators = {
        spec.name: jsonschema.Draft202012Validator(_load(exported, spec.name))
        for spec in inbound_events()
    }
    lines = gzip.decompress(CORPUS.read_bytes()).splitlines()
    checked = 0
    for record in map(orjson.loads, lines):
        if record["expect"] == "ok":
            validators[record["topic"]].validate(orjson.loads(base64.b64decode(record["value"])))
            checked += 1
    assert checked == 10_000


@pytest.mark.parametrize(
    "changes",
    [
        {"code": None},  # no place at all
        {"lat": 32.5},  # lat without lon
        {"photos": ["https://a.cn/p.jpg"] * 21},
        {"schema_version": 2},
        {"reporter_role": "mayor"},
        {"surprise": 1},
    ],
)
def test_exported_report_schema_rejects_what_the_model_rejects(
    exported: Path, changes: dict[str, Any]
) -> None:
    body = {
        "event_id": "0b6f8a9e-2d1c-4f7e-9a51-3c2b1a0d9e8f",
        "occurred_at": "2025-03-01T08:00:00+08:00",
        "schema_version": 1,
        "channel": "app",
        "code": "TZ00001",
        "description": "路灯不亮",
        "reporter_id": "u1",
        "reporter_role": "resident",
    }
    body = {k: v for k, v in (body | changes).items() if v is not None}
    validator = jsonschema.Draft202012Validator(_load(exported, Report.TOPIC))
    assert not validator.is_valid(body)
    with pytest.raises(ValueError, match="validation error"):
        Report.model_validate_json(orjson.dumps(body))


def test_cli_export_writes_the_files(tmp_path: Path) -> None:
    result = CliRunner().invoke(schemas_group, ["export", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert len(result.output.splitlines()) == len(TOPIC_MODELS)
    assert (tmp_path / "out" / "civic.deadletter.v1.schema.json").is_file()


def test_catalogue_shape() -> None:
    assert len({spec.name for spec in CATALOGUE}) == len(CATALOGUE)
    assert [s.name for s in state_topics()] == [
        "civic.registry.v1",
        "civic.grids.v1",
        "civic.actors.v1",
    ]
    assert all(s.compacted and s.retention_ms is None for s in state_topics())
    assert by_name("civic.deadletter.v1").retention_ms == 30 * 24 * 3600 * 1000
    assert BY_GRID.direction == "internal"
    assert BY_GRID.key_field == "grid_id"
    assert {s.direction for s in inbound_events()} == {"in"}
