"""Open311 GeoReport v2 in the city's terms: the taxonomy as services, a case as a service
request, and the query rules of the specification (90 days and 1,000 results by default).

Pure: rows come in as named records, dictionaries in the specification's field names go out;
the HTTP shell renders them as JSON or XML."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from civicgrid.domain.taxonomy import Category, Taxonomy
from civicgrid.domain.timelimit import LimitUnit, TimeLimit
from civicgrid.schemas.enums import CaseState

MAX_SPAN = timedelta(days=90)
DEFAULT_LIMIT = 1000

Status = Literal["open", "closed"]

# What a resident reads for each state: plain words, never the internal name.
STATE_WORDS: Mapping[str, str] = {
    "REPORTED": "已收到您的反映",
    "VERIFYING": "待核实",
    "REGISTERED": "已立案",
    "DISPATCHED": "已派遣给处置部门",
    "ACCEPTED": "处置部门已接单",
    "IN_PROGRESS": "正在处置",
    "HANDLED": "已处置，等待核查",
    "CHECKING": "正在核查处置结果",
    "CLOSED": "已办结",
    "SELF_HANDLED": "网格员已现场处置，等待核查",
    "RETURNED": "重新派遣中",
    "ESCALATED": "已提请上级协调处置",
    "SUSPENDED": "挂账（暂缓办理）",
    "DUPLICATE": "与已有事件合并办理",
    "CANCELLED": "已撤销",
}


class Open311Error(Exception):
    """An error answered as the specification's array of `code` / `description`."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def status_of(state: str) -> Status:
    """SPEC §4: CLOSED, CANCELLED and DUPLICATE are `closed`, every other state `open`."""
    try:
        return "open" if CaseState(state).is_open else "closed"
    except ValueError:
        return "open"


def state_words(state: str) -> str:
    return STATE_WORDS.get(state, state)


def format_time(moment: datetime | None, zone: ZoneInfo) -> str | None:
    """W3C ISO 8601 with the offset, in the city's zone (the specification's format)."""
    if moment is None:
        return None
    return moment.astimezone(zone).isoformat(timespec="seconds")


def parse_time(text: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        example = "2026-12-01T08:00:00+08:00"
        raise Open311Error(400, f"{name} must be a W3C date-time, e.g. {example}") from None
    if moment.tzinfo is None:
        raise Open311Error(400, f"{name} must carry its offset (Z or +08:00)")
    return moment


def limit_words(limit: TimeLimit) -> str:
    unit = {
        LimitUnit.HOURS: "小时",
        LimitUnit.WORKING_HOURS: "个工作小时",
        LimitUnit.WORKING_DAYS: "个工作日",
    }[limit.unit]
    return f"{limit.amount:g}{unit}"


def public_categories(taxonomy: Taxonomy) -> list[Category]:
    return [category for category in taxonomy if category.public]


def service(category: Category, taxonomy: Taxonomy) -> dict[str, Any]:
    lead = taxonomy.department_name(category.lead)
    limit = limit_words(category.limit)
    return {
        "service_code": category.code,
        "service_name": category.zh,
        "description": f"{category.zh}（{category.en}）：由{lead}处置，时限{limit}",
        "metadata": False,
        "type": "realtime",
        "keywords": ",".join((category.en, *category.kinds)),
        "group": taxonomy.group_name(category.code),
    }


def public_category(taxonomy: Taxonomy, code: str) -> Category:
    """The category of a public service code; a non-public one is as unknown as a made-up
    one, so that its existence says nothing."""
    if code in taxonomy and taxonomy.get(code).public:
        return taxonomy.get(code)
    raise Open311Error(404, f"no service with code {code!r}")


def service_definition(category: Category) -> dict[str, Any]:
    # No extra attributes: the description, the place and a photo are all a case needs.
    return {"service_code": category.code, "attributes": []}


@dataclass(frozen=True, slots=True)
class CaseRow:
    """What a service request is made of: the case and its first report (masked text)."""

    case_code: str
    state: str
    category: str
    lead_department: str | None
    opened_at: datetime
    updated_at: datetime
    deadline: datetime | None
    code: str | None
    lat: float | None
    lon: float | None
    description: str | None
    media_url: str | None


def service_request(row: CaseRow, taxonomy: Taxonomy, zone: ZoneInfo) -> dict[str, Any]:
    category = taxonomy.get(row.category) if row.category in taxonomy else None
    lead = taxonomy.department_name(row.lead_department) if row.lead_department else None
    return {
        "service_request_id": row.case_code,
        "status": status_of(row.state),
        "status_notes": state_words(row.state),
        "service_name": category.zh if category else row.category,
        "service_code": row.category,
        "description": row.description,
        "agency_responsible": lead,
        "service_notice": None,
        "requested_datetime": format_time(row.opened_at, zone),
        "updated_datetime": format_time(row.updated_at, zone),
        "expected_datetime": format_time(row.deadline, zone),
        "address": None,
        "address_id": row.code,
        "zipcode": None,
        "lat": row.lat,
        "long": row.lon,
        "media_url": row.media_url,
    }


@dataclass(frozen=True, slots=True)
class RequestQuery:
    """GET requests: the ids override every other filter (the specification says so)."""

    ids: tuple[str, ...]
    service_codes: tuple[str, ...]
    start: datetime
    end: datetime
    status: Status | None
    limit: int


def request_query(
    params: Mapping[str, str], taxonomy: Taxonomy, now: datetime, limit: int = DEFAULT_LIMIT
) -> RequestQuery:
    ids = tuple(i.strip() for i in params.get("service_request_id", "").split(",") if i.strip())
    codes = tuple(c.strip() for c in params.get("service_code", "").split(",") if c.strip())
    unknown = [code for code in codes if code not in taxonomy or not taxonomy.get(code).public]
    if unknown:
        raise Open311Error(400, f"service_code names no service: {', '.join(unknown)}")
    end = parse_time(params["end_date"], "end_date") if params.get("end_date") else None
    start = parse_time(params["start_date"], "start_date") if params.get("start_date") else None
    if start is None and end is None:
        end = now
    if start is None:
        assert end is not None
        start = end - MAX_SPAN
    if end is None:
        end = min(now, start + MAX_SPAN)
    if end < start:
        raise Open311Error(400, "end_date is before start_date")
    if end - start > MAX_SPAN:
        raise Open311Error(400, "start_date and end_date may not span more than 90 days")
    raw_status = params.get("status")
    status: Status | None
    if raw_status is None or raw_status == "":
        status = None
    elif raw_status in ("open", "closed"):
        status = "open" if raw_status == "open" else "closed"
    else:
        raise Open311Error(400, "status must be open or closed")
    return RequestQuery(ids[:limit], codes, start, end, status, limit)
