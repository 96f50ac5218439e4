"""JSON Schema files for upstream and downstream app teams, one per topic."""

import json
from pathlib import Path

from civicgrid.schemas.common import InboundModel, OutboundModel
from civicgrid.schemas.inbound import EVENT_MODELS, HOUSEHOLD_MODELS, STATE_MODELS
from civicgrid.schemas.outbound import (
    Alert,
    Assessment,
    CaseSnapshot,
    DeadLetter,
    GridDispatch,
    NetworkDispatch,
)

TOPIC_MODELS: tuple[type[InboundModel] | type[OutboundModel], ...] = (
    *EVENT_MODELS,
    *STATE_MODELS,
    *HOUSEHOLD_MODELS,
    CaseSnapshot,
    GridDispatch,
    NetworkDispatch,
    Alert,
    Assessment,
    DeadLetter,
)


def schema_path(directory: Path, topic: str) -> Path:
    return directory / f"{topic}.schema.json"


def export_json_schemas(directory: Path) -> list[Path]:
    """Write `<topic>.schema.json` for every topic with a published value; return the paths.

    The files hold `model_json_schema()` of the very models the parser validates with.
    Key and CloudEvents-header rules are not part of a value and so not in the files.
    """
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for model in TOPIC_MODELS:
        # Nothing is added to the generated schema (JSON Schema 2020-12), so the file and
        # the validator cannot drift apart.
        text = json.dumps(model.model_json_schema(), ensure_ascii=False, indent=2)
        path = schema_path(directory, model.TOPIC)
        path.write_text(text + "\n", encoding="utf-8")
        written.append(path)
    return written
