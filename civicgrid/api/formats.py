"""Open311's two formats: the same rows as JSON, or as XML under the specification's element
names (`services/service`, `service_requests/request`, `errors/error`)."""

from collections.abc import Mapping, Sequence
from typing import Any, Literal
from xml.etree import ElementTree

import orjson
from fastapi.responses import Response

Format = Literal["json", "xml"]

JSON_TYPE = "application/json; charset=utf-8"
XML_TYPE = "text/xml; charset=utf-8"


def _element(parent: ElementTree.Element, name: str, value: Any) -> None:
    child = ElementTree.SubElement(parent, name)
    if isinstance(value, Mapping):
        for key, inner in value.items():
            _element(child, key, inner)
    elif isinstance(value, list):
        # a list of records is a sequence of elements named after the singular of `name`
        singular = name[:-1] if name.endswith("s") else name
        for inner in value:
            _element(child, singular, inner)
    elif isinstance(value, bool):
        child.text = "true" if value else "false"
    elif value is not None:
        child.text = str(value)


_DECLARATION = b'<?xml version="1.0" encoding="utf-8"?>\n'


def to_xml(root: str, item: str, payload: Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> bytes:
    """Rows as `<root><item>…</item>…</root>`; one record (a service definition) as
    `<root>…</root>`."""
    top = ElementTree.Element(root)
    records = (
        [(top, payload)]
        if isinstance(payload, Mapping)
        else [(ElementTree.SubElement(top, item), row) for row in payload]
    )
    for element, record in records:
        for key, value in record.items():
            _element(element, key, value)
    body: bytes = ElementTree.tostring(top, encoding="utf-8", xml_declaration=False)
    return _DECLARATION + body


def render(
    fmt: Format,
    payload: Sequence[Mapping[str, Any]] | Mapping[str, Any],
    root: str,
    item: str,
    status: int = 200,
) -> Response:
    if fmt == "xml":
        return Response(to_xml(root, item, payload), status_code=status, media_type=XML_TYPE)
    return Response(orjson.dumps(payload), status_code=status, media_type=JSON_TYPE)


def error(fmt: Format, status: int, description: str) -> Response:
    rows = [{"code": status, "description": description}]
    return render(fmt, rows, "errors", "error", status)
