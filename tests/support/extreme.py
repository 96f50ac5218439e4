"""Schema-valid inbound records with extreme values, drawn by hypothesis (issue 16, "Done
when"): the longest and shortest strings the schema allows, every plane of Unicode, times
across the whole range the schema admits, coordinates at the poles, the antimeridian and
subnormal floats, the escapes JSON allows, and identities that must never appear in clear.

Each record is valid against the topic's JSON Schema; what the edge then makes of it (an
event, a duplicate, a dead letter for a time outside the window, a grid not registered, a
case that does not exist) is what the fuzz test accounts for.
"""

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
from hypothesis import strategies as st

from civicgrid.topics import catalogue as topics
from tests.support.intake import Raw, grid_record, registry_record

GRIDS = ("GX01", "GX02", "GX03")
# closed rings (lon, lat) of three small neighbouring grids
RINGS = {
    grid: [
        [119.90 + 0.01 * n, 32.40],
        [119.91 + 0.01 * n, 32.40],
        [119.91 + 0.01 * n, 32.41],
        [119.90 + 0.01 * n, 32.41],
        [119.90 + 0.01 * n, 32.40],
    ]
    for n, grid in enumerate(GRIDS)
}
CODES = tuple(f"TZX{n:05d}" for n in range(40))
REUSED_IDS = tuple(uuid.UUID(int=n) for n in range(1, 6))
# Characters from every corner of Unicode that no identifier rule forbids: no digits (so no
# accidental personal numbers), no whitespace or control characters, no NUL, no surrogates,
# and no quote or backslash (so that an identity is found verbatim in any dump of it).
ID_CHARS = st.characters(
    blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp", "Nd", "No", "Nl"),
    blacklist_characters='"\\',
)
TEXT_CHARS = st.characters(
    blacklist_categories=("Cs", "Nd", "No", "Nl"), blacklist_characters="\x00"
)
# Personal numbers in shapes the masker knows (SPEC §8); each appears once in its text.
PERSONAL = st.sampled_from(
    [
        "13812345678",
        "138-1234-5678",
        "+86 139 8765 4321",
        "１５９１２３４５６７８",
        "320102199003071234",
        "32010219900307123X",
    ]
)
OFFSETS = st.sampled_from([0, 1, -1, 8, 14, -12, 5.75]).map(lambda h: timezone(timedelta(hours=h)))


def identity() -> st.SearchStrategy[str]:
    """A person's id (reporter, scanner, worker, actor): long enough to be found verbatim
    if it ever leaked."""
    return st.text(ID_CHARS, min_size=12, max_size=40).map(lambda tail: f"ID{tail}")


def long_text(max_chars: int) -> st.SearchStrategy[str]:
    """Free text from 1 character to the schema's maximum, with a personal number in it;
    long texts repeat a drawn unit, so hypothesis's data budget is not the limit."""
    unit = st.text(TEXT_CHARS, min_size=1, max_size=12)
    length = st.sampled_from([1, 2, 50, 500, max_chars - 40, max_chars])
    return st.builds(_filled, unit, length, PERSONAL, st.integers(0, max_chars))


def _filled(unit: str, length: int, number: str, where: int) -> str:
    body = (unit * (length // len(unit) + 1))[: max(length - len(number) - 2, 0)]
    cut = min(where, len(body))
    text = f"{body[:cut]}，{number}，{body[cut:]}"
    return text[:length] if len(text) > length else text


@st.composite
def moment(draw: st.DrawFn, now: datetime) -> str:
    """Mostly inside the accepted window; sometimes anywhere the schema's date-time admits,
    kept an hour clear of the window's edges (the worker's clock is not the test's)."""
    if draw(st.integers(0, 9)) < 7:
        at = now - timedelta(seconds=draw(st.integers(0, 29 * 86400)))
    else:
        at = draw(
            st.sampled_from(
                [
                    datetime(1, 1, 1, tzinfo=UTC) + timedelta(hours=15),
                    datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
                    datetime(1970, 1, 1, tzinfo=UTC),
                    now - timedelta(days=32),
                    now + timedelta(hours=2),
                    datetime(2099, 12, 31, 23, 59, 59, tzinfo=UTC),
                    datetime(9999, 12, 31, 8, tzinfo=UTC),
                ]
            )
        )
    at = at.replace(microsecond=draw(st.sampled_from([0, 1, 999999, at.microsecond])))
    zone = draw(OFFSETS)
    try:
        return at.astimezone(zone).isoformat()
    except OverflowError:  # year 1 west of UTC
        return at.isoformat()


def coordinates() -> st.SearchStrategy[dict[str, float]]:
    # to the micro-degree: a float's long binary tail (32.400999999999996) reads as a
    # 15-digit ID-card number to the masker's detector
    inside = st.tuples(st.sampled_from(list(RINGS.values())), st.integers(1_000, 9_000)).map(
        lambda ring_n: {
            "lat": round(ring_n[0][0][1] + ring_n[1] / 1e6, 6),
            "lon": round(ring_n[0][0][0] + ring_n[1] / 1e6, 6),
        }
    )
    extreme = st.sampled_from(
        [
            {"lat": 90.0, "lon": 180.0},
            {"lat": -90.0, "lon": -180.0},
            {"lat": 0.0, "lon": -0.0},
            {"lat": 5e-324, "lon": -5e-324},
            {"lat": 32.41, "lon": 119.91},  # a corner shared by two grids
            {"lat": 89.99999999999999, "lon": 179.99999999999997},
        ]
    )
    return inside | extreme


def photo() -> st.SearchStrategy[str]:
    tail = st.text(ID_CHARS, min_size=1, max_size=8)
    return st.builds(
        lambda t, n: ("https://img.example/" + t * 2048)[:n], tail, st.sampled_from([21, 300, 2048])
    )


@st.composite
def event(draw: st.DrawFn, now: datetime, identities: list[str]) -> Raw:
    """One schema-valid event of any inbound topic; its people's ids go into `identities`."""
    topic = draw(st.sampled_from([spec.name for spec in topics.inbound_events()]))
    person = draw(identity())
    identities.append(person)
    head = {
        # unique, but now and then one of a few ids again: a redelivery, or two apps reusing
        # an id (hypothesis's own uuids repeat far more often than a producer's would)
        "event_id": str(
            draw(st.sampled_from(REUSED_IDS)) if draw(st.integers(0, 19)) == 0 else uuid.uuid4()
        ),
        "occurred_at": draw(moment(now)),
        "schema_version": 1,
    }
    grid = draw(st.sampled_from([*GRIDS, "GX-NEVER"]))
    key: str
    if topic == topics.SCANS.name:
        code = draw(st.sampled_from([*CODES, "TZX-UNREGISTERED"]))
        body: dict[str, Any] = {
            "code": code,
            "scanner_id": person,
            "scanner_role": draw(st.sampled_from(["resident", "grid_worker", "officer"])),
            "purpose": draw(st.sampled_from(["report", "patrol", "visit", "view", "verify"])),
        }
        if draw(st.booleans()):
            body |= draw(coordinates())
        key = code
    elif topic == topics.REPORTS.name:
        place = draw(st.sampled_from(["code", "grid", "point", "all"]))
        body = {
            "channel": draw(st.sampled_from(["scan", "app", "hotline", "patrol", "sensor"])),
            "description": draw(long_text(4000)),
            "reporter_id": person,
            "reporter_role": draw(st.sampled_from(["resident", "grid_worker", "officer"])),
            "photos": draw(st.lists(photo(), max_size=20)),
        }
        if draw(st.booleans()):
            body["category_hint"] = draw(st.sampled_from(["01002", "06010", "L0301", "99999"]))
        if place in ("code", "all"):
            body["code"] = draw(st.sampled_from(CODES))
        if place in ("grid", "all"):
            body["grid_id"] = grid
        if place in ("point", "all"):
            body |= draw(coordinates())
        key = body.get("code") or body.get("grid_id") or draw(st.text(ID_CHARS, max_size=20))
    elif topic == topics.PATROLS.name:
        body = {
            "worker_id": person,
            "grid_id": grid,
            "kind": draw(st.sampled_from(["patrol", "visit", "rectify", "verify", "check"])),
            "note": draw(long_text(4000)),
        }
        if draw(st.booleans()):
            body["code"] = draw(st.sampled_from(CODES))
        key = person
    else:
        body = {
            "case_id": f"{grid}~{draw(st.integers(1, 30))}",
            "actor_id": person,
            "actor_kind": draw(st.sampled_from(["grid_worker", "department", "operator"])),
            "action": draw(st.sampled_from(["accept", "start", "handle", "close", "extend"])),
            "note": draw(long_text(4000)),
        }
        key = body["case_id"]
    value = head | body
    # the escapes JSON allows: all of it as \u escapes (astral characters as surrogate
    # pairs), or pretty-printed, or compact UTF-8
    encoding = draw(st.sampled_from(["utf8", "ascii", "indented"]))
    if encoding == "ascii":
        raw = json.dumps(value, ensure_ascii=True).encode()
    elif encoding == "indented":
        raw = json.dumps(value, ensure_ascii=False, indent=2).encode()
    else:
        raw = orjson.dumps(value)
    return Raw(topic, key.encode(), raw)


def city_state() -> list[Raw]:
    """The grids and codes the fuzzed events may name, with extreme registry attributes."""
    state = [
        Raw(topics.GRIDS.name, g.encode(), orjson.dumps(grid_record(g, polygon=RINGS[g])))
        for g in GRIDS
    ]
    for n, code in enumerate(CODES):
        attributes: dict[str, Any] = {
            "owner": "排水" + "🚰" * (n % 5) + "\u200d\u202e\ufeff" * (n % 3),
            **{f"键{i}": "値" * (i * 3) for i in range(n % 64)},
            "int": 2**63 - 1 if n % 2 else -(2**63),
            "float": 1.7976931348623157e308,
            "flag": bool(n % 2),
            "none": None,
        }
        value = registry_record(
            code, GRIDS[n % len(GRIDS)], attributes=dict(list(attributes.items())[:64])
        )
        state.append(Raw(topics.REGISTRY.name, code.encode(), orjson.dumps(value)))
    return state
