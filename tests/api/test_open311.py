"""Open311 GeoReport v2 through `civicgrid api`, a real worker, broker and PostgreSQL.

A partner app files a request, follows its token to a case and the case to closed; errors
come as the specification's arrays; non-public matters never leave; no answer holds a
personal number or a reporter's identity."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree import ElementTree

import asyncpg
import pytest

from civicgrid.domain.taxonomy import Taxonomy
from tests.api.conftest import Stack, case_for
from tests.support.privacy import holds_personal_numbers

PHONE = "13912345678"


def test_services_are_the_public_taxonomy(stack: Stack) -> None:
    public = {c.code for c in Taxonomy.default() if c.public}
    listed = stack.api.get("/open311/v2/services.json")
    assert listed.status == 200
    assert listed.content_type.startswith("application/json")
    services = listed.json()
    assert {s["service_code"] for s in services} == public
    light = next(s for s in services if s["service_code"] == "01037")
    assert light["service_name"] == "路灯"
    assert light["type"] == "realtime"
    assert light["metadata"] is False
    assert "路灯管理处" in light["description"]
    assert not public & {"L0101", "L0103", "L0301", "L0303", "L0401"}

    xml = stack.api.get("/open311/v2/services.xml")
    assert xml.content_type.startswith("text/xml")
    root = ElementTree.fromstring(xml.body)
    assert root.tag == "services"
    assert {e.findtext("service_code") for e in root.findall("service")} == public

    definition = stack.api.get("/open311/v2/services/01037.json").json()
    assert definition == {"service_code": "01037", "attributes": []}
    assert stack.api.get("/open311/v2/services/L0301.json").status == 404


def test_a_request_followed_from_token_to_closed(stack: Stack) -> None:
    api = stack.api
    filed = api.post(
        "/open311/v2/requests.json",
        {
            "api_key": stack.api_key,
            "service_code": "01037",
            "address_id": stack.street_lights[0],
            "description": f"门口路灯晚上不亮，我电话{PHONE}",
            "account_id": "user-42",
            "phone": PHONE,
            "media_url": "https://photos.example/lamp.jpg",
            "jurisdiction_id": "taizhou",
        },
    )
    assert filed.status == 200, filed.text
    token = filed.json()[0]["token"]
    request_id = case_for(stack, token)

    shown = api.get(f"/open311/v2/requests/{request_id}.json").json()[0]
    assert shown["service_request_id"] == request_id
    assert shown["status"] == "open"
    assert shown["service_code"] == "01037"
    assert shown["agency_responsible"] == "路灯管理处"
    assert shown["address_id"] == stack.street_lights[0]
    assert shown["media_url"] == "https://photos.example/lamp.jpg"
    assert PHONE not in shown["description"]
    assert "139****5678" in shown["description"]
    for stamp in ("requested_datetime", "updated_datetime", "expected_datetime"):
        assert datetime.fromisoformat(shown[stamp]).utcoffset() == timedelta(hours=8)

    xml = ElementTree.fromstring(api.get(f"/open311/v2/requests/{request_id}.xml").body)
    assert xml.tag == "service_requests"
    assert xml.find("request/status").text == "open"  # type: ignore[union-attr]

    case_id = asyncio.run(_case_id(stack, request_id))

    async def close() -> None:
        await stack.driver.update(case_id, "self_handle", "grid_worker", "当场修复")
        await stack.driver.update(case_id, "check_pass", "operator")

    asyncio.run(close())
    closed = api.get(f"/open311/v2/requests/{request_id}.json").json()[0]
    assert closed["status"] == "closed"
    assert closed["status_notes"] == "已办结"
    listed = api.get("/open311/v2/requests.json?status=closed&service_code=01037").json()
    assert request_id in {r["service_request_id"] for r in listed}
    assert request_id not in {
        r["service_request_id"] for r in api.get("/open311/v2/requests.json?status=open").json()
    }


async def _case_id(stack: Stack, case_code: str) -> str:
    connection = await asyncpg.connect(stack.endpoints.database_url)
    try:
        return str(
            await connection.fetchval("SELECT case_id FROM cases WHERE case_code = $1", case_code)
        )
    finally:
        await connection.close()


def test_a_located_request_without_a_code(stack: Stack) -> None:
    lat, lon = stack.centre
    filed = stack.api.post(
        "/open311/v2/requests.xml",
        {
            "api_key": stack.api_key,
            "service_code": "03005",
            "lat": str(lat),
            "long": str(lon),
            "description": "垃圾箱满了溢出来",
        },
    )
    assert filed.status == 200, filed.text
    assert filed.content_type.startswith("text/xml")
    token = ElementTree.fromstring(filed.body).findtext("request/token")
    assert token
    request_id = case_for(stack, token)
    shown = stack.api.get(f"/open311/v2/requests/{request_id}.json").json()[0]
    assert shown["service_code"] == "03005"
    assert shown["lat"] == pytest.approx(lat, abs=1e-6)
    assert shown["long"] == pytest.approx(lon, abs=1e-6)


@pytest.mark.parametrize(
    ("form", "status"),
    [
        ({"service_code": "01037", "lat": "32.4", "long": "119.9"}, 403),
        ({"api_key": "not-a-key", "service_code": "01037", "lat": "32.4", "long": "119.9"}, 403),
        ({"api_key": "KEY", "lat": "32.4", "long": "119.9"}, 400),
        ({"api_key": "KEY", "service_code": "99999", "lat": "32.4", "long": "119.9"}, 404),
        ({"api_key": "KEY", "service_code": "L0301", "lat": "32.4", "long": "119.9"}, 404),
        ({"api_key": "KEY", "service_code": "01037"}, 400),
        ({"api_key": "KEY", "service_code": "01037", "lat": "north", "long": "119.9"}, 400),
        ({"api_key": "KEY", "service_code": "01037", "lat": "91", "long": "119.9"}, 400),
    ],
)
def test_bad_posts_are_refused_as_the_spec_says(
    stack: Stack, form: dict[str, str], status: int
) -> None:
    if form.get("api_key") == "KEY":
        form = {**form, "api_key": stack.api_key}
    for fmt in ("json", "xml"):
        answer = stack.api.post(f"/open311/v2/requests.{fmt}", form)
        assert answer.status == status, answer.text
        if fmt == "json":
            assert answer.json()[0]["code"] == status
            assert answer.json()[0]["description"]
        else:
            error = ElementTree.fromstring(answer.body)
            assert error.tag == "errors"
            assert error.findtext("error/code") == str(status)


def test_query_limits(stack: Stack) -> None:
    now = datetime.now(UTC)
    wide = f"start_date={(now - timedelta(days=120)).isoformat()}&end_date={now.isoformat()}"
    assert stack.api.get(f"/open311/v2/requests.json?{wide.replace('+', '%2B')}").status == 400
    assert stack.api.get("/open311/v2/requests.json?status=maybe").status == 400
    assert stack.api.get("/open311/v2/requests.json?start_date=yesterday").status == 400
    assert stack.api.get("/open311/v2/requests/NO-SUCH-CASE.json").status == 404
    assert stack.api.get(f"/open311/v2/tokens/{uuid.uuid4()}.json").status == 404
    assert stack.api.get("/open311/v2/services.html").status == 400


def test_non_public_matters_never_leave(stack: Stack) -> None:
    """A neighbour dispute reported straight to the stream opens a case the API never shows."""

    async def report() -> str:
        case_id, _ = await stack.driver.report(
            stack.disputed_place, "楼上邻居天天吵架打起来了，报警也没用"
        )
        return case_id

    case_id = asyncio.run(report())
    row = asyncio.run(_case_row(stack, case_id))
    assert row["category"].startswith("L03"), row
    assert stack.api.get(f"/open311/v2/requests/{row['case_code']}.json").status == 404
    listed = stack.api.get("/open311/v2/requests.json").json()
    assert all(not r["service_code"].startswith(("L01", "L03", "L04")) for r in listed)
    assert row["case_code"] not in {r["service_request_id"] for r in listed}


async def _case_row(stack: Stack, case_id: str) -> dict[str, Any]:
    connection = await asyncpg.connect(stack.endpoints.database_url)
    try:
        row = await connection.fetchrow(
            "SELECT case_code, category FROM cases WHERE case_id = $1", case_id
        )
        assert row is not None
        return dict(row)
    finally:
        await connection.close()


def test_rate_limit_per_key(stack: Stack) -> None:
    """The 61st POST in a minute is refused with 429; other keys are not affected."""
    lat, lon = stack.centre
    form = {"api_key": stack.api_key, "service_code": "07001", "lat": str(lat), "long": str(lon)}
    answers = [stack.api.post("/open311/v2/requests.json", form) for _ in range(70)]
    assert answers[0].status == 200
    refused = [a for a in answers if a.status == 429]
    assert refused
    assert refused[0].json()[0]["code"] == 429


def test_records_reach_the_stream_as_reports(stack: Stack) -> None:
    """What the API publishes is an ordinary `app` report: the worker accepted every one."""

    async def rejected() -> int:
        connection = await asyncpg.connect(stack.endpoints.database_url)
        try:
            return int(
                await connection.fetchval(
                    "SELECT count(*) FROM dead_letters d JOIN api_tokens t ON t.token = d.event_id"
                )
            )
        finally:
            await connection.close()

    assert asyncio.run(rejected()) == 0


def test_no_answer_holds_personal_data(stack: Stack) -> None:
    """Every answer this module's API gave (it runs last in the module)."""
    assert len(stack.api.answers) > 50
    for answer in stack.api.answers:
        text = answer.body.decode("utf-8", "replace")
        assert not holds_personal_numbers(text), text[:300]
        assert "user-42" not in text
        assert "partner-app:" not in text
