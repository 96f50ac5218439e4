"""A hostile-but-plausible corpus for `civicgrid run`, written without the project's code.

Everything here is built from plain dicts and bytes: the corpus must not share the edge
parser's or the masker's ideas of what is valid or personal. Each record says what may
become of its offset (`Expect`); personal numbers are planted with odd separators in every
free-text field, and people's ids in every identity field, so a leak can be searched for by
its digits and its id, not by the project's own detector.
"""

import json
import re
import unicodedata
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

# What may become of an offset, as the set of tables it lands in (README: "Where every
# inbound record went"). A dead letter's kind, when the corpus is sure of it, is checked too.
EVENT = frozenset({"events"})
DUPLICATE = frozenset({"duplicate_deliveries"})
DEAD = frozenset({"dead_letters"})
REFUSED_UPDATE = frozenset({"events", "dead_letters"})
# The README's combinations; anything else is a bug whatever the record.
LEGAL = (EVENT, DUPLICATE, frozenset({"events", "duplicate_deliveries"}), DEAD, REFUSED_UPDATE)


@dataclass(frozen=True)
class Hostile:
    topic: str
    key: bytes | None
    value: bytes | None
    outcomes: tuple[frozenset[str], ...]  # any of these
    why: str
    kind: str | None = None  # the dead letter's kind, when sure
    headers: tuple[tuple[str, bytes], ...] = ()


# ---- personal numbers, made here and searched for by their digits -----------------------

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def id_card(region: str, birth: str, sequence: int) -> str:
    """An 18-character resident ID with its ISO 7064 MOD 11-2 check character."""
    body = f"{region}{birth}{sequence:03d}"
    total = sum(int(d) * w for d, w in zip(body, _ID_WEIGHTS, strict=True))
    return body + _ID_CHECK[total % 11]


def id_card_ending_in_x(region: str, birth: str) -> str:
    for sequence in range(1000):
        number = id_card(region, birth, sequence)
        if number.endswith("X"):
            return number
    raise AssertionError("no sequence gives X")


class Numbers:
    """Fresh personal numbers, each planted once, all remembered."""

    def __init__(self) -> None:
        self.planted: list[str] = []
        self._next = 0

    def mobile(self) -> str:
        self._next += 1
        number = f"1{3 + self._next % 7}{(70_000_000 + self._next * 7919) % 10**9:09d}"
        self.planted.append(number)
        return number

    def id18(self) -> str:
        self._next += 1
        number = id_card(
            "320202",
            f"19{60 + self._next % 39:02d}0{1 + self._next % 9}1{self._next % 10}",
            self._next % 1000,
        )
        self.planted.append(number)
        return number

    def id18x(self) -> str:
        self._next += 1
        number = id_card_ending_in_x(
            "321202", f"19{70 + self._next % 29:02d}07{10 + self._next % 18}"
        )
        self.planted.append(number)
        return number

    def id15(self) -> str:
        self._next += 1
        n = self._next
        number = f"320202{60 + n % 39:02d}0{1 + n % 9}1{n % 10}{n % 1000:03d}"
        self.planted.append(number)
        return number


def _split(number: str) -> list[str]:
    return [number[:3], number[3:7], number[7:]]


_FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")


def disguised(number: str, style: int) -> str:
    """The number as people and OCR write it: other separators, invisible characters,
    full-width or Arabic-Indic digits, a country prefix."""
    groups = (
        [number[:3], number[3:7], number[7:]]
        if len(number) == 11
        else [number[:6], number[6:14], number[14:]]
    )
    styles = [
        lambda: ".".join(groups),
        lambda: "\u00a0".join(groups),
        lambda: "\uff0d".join(groups),
        lambda: "\u2013".join(groups),
        lambda: "\u200b".join(number),
        lambda: number.translate(_FULL_WIDTH),
        lambda: " ".join(groups),
        lambda: "\u2009".join(groups),
        lambda: "\u3000".join(groups),
        lambda: "\u00ad".join(number),
        lambda: "\u2060".join(groups),
        lambda: "-".join(groups),
        lambda: "·".join(groups),
        lambda: "".join(chr(0x0660 + int(d)) if d.isdigit() else d for d in number),
        lambda: "\u200d".join(number[:5]) + number[5:],
        lambda: ("+86 " if len(number) == 11 else "") + " ".join(groups),
    ]
    return styles[style % len(styles)]()


def _ascii_digits(text: str) -> str:
    """Every Unicode decimal digit as its ASCII digit; everything else as it is."""
    return "".join(
        str(unicodedata.decimal(ch)) if ch.isdecimal() and not ch.isascii() else ch for ch in text
    )


class Leaks:
    """Finds a planted number in a text by its digits, however separated (any 0-4
    characters that are neither digits, letters nor the mask's `*` between two digits)."""

    def __init__(self, numbers: list[str], ids: list[str]) -> None:
        gap = r"[^0-9A-Za-z*]{0,4}"
        self.numbers = [
            (n, re.compile(gap.join(re.escape(ch) for ch in n.upper()), re.IGNORECASE))
            for n in numbers
        ]
        self.ids = ids

    def number_in(self, text: str) -> str | None:
        plain = _ascii_digits(text)
        for number, pattern in self.numbers:
            if pattern.search(plain):
                return number
        return None

    def id_in(self, text: str) -> str | None:
        for person in self.ids:
            if person in text:
                return person
        return None


# ---- the corpus -----------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    """Real places of the demo city, for records that should be events."""

    code: str
    grid_id: str
    lat: float
    lon: float
    other_grid: str
    grid_worker: str  # on the roster for `grid_id`
    operator: str
    department: str


def _now(offset: timedelta = timedelta()) -> str:
    return (datetime.now(UTC) + offset).isoformat()


def _j(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


class Corpus:
    def __init__(self, place: Place) -> None:
        self.place = place
        self.numbers = Numbers()
        self.ids: list[str] = []
        self._style = 0
        self._person = 0

    def person(self, prefix: str = "R") -> str:
        self._person += 1
        person = f"{prefix}-HOSTILE{self._person:05d}"
        self.ids.append(person)
        return person

    def pn(self) -> str:
        """A personal number, disguised the next way."""
        self._style += 1
        kind = self._style % 4
        number = [self.numbers.mobile, self.numbers.id18, self.numbers.id18x, self.numbers.id15][
            kind
        ]()
        return disguised(number, self._style)

    def pn_url(self) -> str:
        """A personal number written so it can stand in a URL (no spaces)."""
        self._style += 1
        number = [self.numbers.mobile, self.numbers.id18, self.numbers.id18x][self._style % 3]()
        join = [".", "-", "_", "~", "\u200b", ""][self._style % 6]
        if self._style % 7 == 0:
            return number.translate(_FULL_WIDTH)
        return join.join([number[:3], number[3:7], number[7:]])

    def report(self, **changes: Any) -> dict[str, Any]:
        p = self.place
        value = {
            "event_id": str(uuid.uuid4()),
            "occurred_at": _now(),
            "schema_version": 1,
            "channel": "app",
            "code": p.code,
            "lat": p.lat,
            "lon": p.lon,
            "description": f"井盖松动了，请尽快处理，电话{self.pn()}，身份证{self.pn()}",
            "reporter_id": self.person(),
            "reporter_role": "resident",
            "photos": [f"https://oss.example.cn/u/{self.pn_url()}/p{self.pn_url()}.jpg"],
        }
        value.update(changes)
        return {k: v for k, v in value.items() if v is not _DROP}

    def scan(self, **changes: Any) -> dict[str, Any]:
        p = self.place
        value = {
            "event_id": str(uuid.uuid4()),
            "occurred_at": _now(),
            "schema_version": 1,
            "code": p.code,
            "scanner_id": self.person("S"),
            "scanner_role": "resident",
            "purpose": "view",
            "lat": p.lat,
            "lon": p.lon,
        }
        value.update(changes)
        return {k: v for k, v in value.items() if v is not _DROP}

    def patrol(self, **changes: Any) -> dict[str, Any]:
        p = self.place
        value = {
            "event_id": str(uuid.uuid4()),
            "occurred_at": _now(),
            "schema_version": 1,
            "worker_id": p.grid_worker,
            "grid_id": p.grid_id,
            "kind": "visit",
            "code": p.code,
            "household_id": f"HH{self.pn()}",
            "note": f"走访住户，联系人手机{self.pn()}",
        }
        value.update(changes)
        return {k: v for k, v in value.items() if v is not _DROP}

    def update(self, case_id: str, **changes: Any) -> dict[str, Any]:
        value = {
            "event_id": str(uuid.uuid4()),
            "occurred_at": _now(),
            "schema_version": 1,
            "case_id": case_id,
            "actor_id": self.place.operator,
            "actor_kind": "operator",
            "action": "accept",
            "note": f"已联系{self.pn()}",
        }
        value.update(changes)
        return {k: v for k, v in value.items() if v is not _DROP}


_DROP = object()  # a field to leave out


def events(c: Corpus, topics: dict[str, str]) -> Iterator[Hostile]:
    """The inbound-event part: reports, scans, patrols (case updates need cases first)."""
    rt, st, pt = topics["reports"], topics["scans"], topics["patrols"]
    code = c.place.code.encode()
    ok = (EVENT,)

    def rec(
        topic: str,
        value: dict[str, Any] | bytes | None,
        outcomes: tuple[frozenset[str], ...],
        why: str,
        key: bytes | None = code,
        kind: str | None = None,
    ) -> Hostile:
        raw = value if isinstance(value, bytes) or value is None else _j(value)
        return Hostile(topic, key, raw, outcomes, why, kind)

    # plausible and valid, numbers hidden everywhere a person can type
    yield rec(rt, c.report(), ok, "a report with numbers in description and photo URL")
    yield rec(st, c.scan(), ok, "a resident's scan")
    yield rec(
        pt,
        c.patrol(),
        ok,
        "a visit with numbers in household_id and note",
        key=c.place.grid_worker.encode(),
    )
    # wrong types
    yield rec(rt, c.report(lat=str(c.place.lat)), (DEAD,), "lat as a string", kind="schema")
    yield rec(
        rt, c.report(schema_version="1"), (DEAD,), "schema_version as a string", kind="schema"
    )
    yield rec(
        rt, c.report(reporter_id=770000000001), (DEAD,), "reporter_id as a number", kind="schema"
    )
    yield rec(
        rt,
        c.report(description=[c.pn(), {"x": c.pn()}]),
        (DEAD,),
        "description as a list",
        kind="schema",
    )
    yield rec(
        rt,
        c.report(photos=f"https://oss.example.cn/{c.pn()}.jpg"),
        (DEAD,),
        "photos as a string",
        kind="schema",
    )
    yield rec(st, c.scan(lat=True, lon=False), (DEAD,), "coordinates as booleans", kind="schema")
    yield rec(
        rt, c.report(occurred_at=1764806400), (DEAD,), "occurred_at as epoch seconds", kind="schema"
    )
    yield rec(rt, c.report(event_id=12345), (DEAD,), "event_id as a number")
    # missing fields
    yield rec(rt, c.report(event_id=_DROP), (DEAD,), "no event_id")
    yield rec(rt, c.report(description=_DROP), (DEAD,), "no description", kind="schema")
    yield rec(rt, c.report(occurred_at=_DROP), (DEAD,), "no occurred_at")
    yield rec(rt, c.report(code=_DROP, lat=_DROP, lon=_DROP), (DEAD,), "no place at all")
    yield rec(rt, b"{}", (DEAD,), "an empty object")
    yield rec(rt, b"[]", (DEAD,), "an array")
    yield rec(rt, b"null", (DEAD,), "JSON null")
    yield rec(rt, b"", (DEAD,), "empty bytes")
    # huge arrays, deep nesting
    yield rec(
        rt,
        c.report(photos=[f"https://oss.example.cn/{n}.jpg" for n in range(3000)]),
        (DEAD,),
        "3,000 photos",
    )
    yield rec(rt, c.report(photos=["https://x.cn/a.jpg"] * 21), (DEAD,), "21 photos", kind="schema")
    deep = "[" * 5000 + "]" * 5000
    yield rec(
        rt,
        f'{{"event_id":"{uuid.uuid4()}","description":{deep}}}'.encode(),
        (DEAD,),
        "5,000 levels of nesting",
    )
    nested: Any = c.pn()
    for _ in range(200):
        nested = {"a": nested}
    yield rec(rt, c.report(extra=nested), (DEAD,), "an unknown field nested 200 deep")
    yield rec(rt, b"[" * 60000, (DEAD,), "60,000 open brackets")
    # odd Unicode
    yield rec(
        rt,
        c.report(description=f"\u202e{c.pn()}\u202c 井盖\u200f丢了\u200e"),
        ok,
        "RTL override and marks",
    )
    yield rec(
        rt, c.report(description="e\u0301\u0301\u0301" * 300 + c.pn()), ok, "combining characters"
    )
    yield rec(
        rt,
        c.report(description="\U0001f469\u200d\U0001f469\u200d\U0001f467 路灯坏了 " + c.pn()),
        ok,
        "ZWJ emoji sequence",
    )
    yield rec(
        rt,
        c.report(description="\ufeff\u2028\u2029路灯坏了" + c.pn()),
        ok,
        "BOM and line separators",
    )
    lone = _j(c.report(description="PLACEHOLDER")).replace(
        b"PLACEHOLDER", b"\\ud800 \\udfff " + c.pn().encode()
    )
    yield rec(rt, lone, (DEAD, EVENT), "lone surrogates escaped in JSON")
    pair = _j(c.report(description="PLACEHOLDER")).replace(
        b"PLACEHOLDER", b"\\ud83d\\ude00 \\u0070 ok"
    )
    yield rec(rt, pair, ok, "a surrogate pair escaped in JSON")
    yield rec(
        rt,
        c.report(description="\u0000" + c.pn()),
        (DEAD,),
        "NUL in the description",
        kind="schema",
    )
    yield rec(
        rt, c.report(description="a\u0001b\u001fc" + c.pn()), (DEAD, EVENT), "control characters"
    )
    yield rec(
        rt, c.report(description="\ufffd\ufffe\uffff" + c.pn()), (DEAD, EVENT), "noncharacters"
    )
    yield rec(
        rt,
        _j(c.report())[:-1] + b"\xff\xfe}",
        (DEAD,),
        "invalid UTF-8 at the end",
        kind="invalid_utf8",
    )
    yield rec(
        rt, "描述".encode("gb18030") + c.pn().encode("gb18030"), (DEAD,), "GB18030, not UTF-8"
    )
    yield rec(rt, b"\xef\xbb\xbf" + _j(c.report()), (DEAD, EVENT), "a UTF-8 BOM before the JSON")
    # duplicate keys: the first reporter_id must not survive in clear anywhere
    first, second = c.person(), c.person()
    dup = _j(c.report(reporter_id="FIRST")).replace(
        b'"reporter_id": "FIRST"', f'"reporter_id": "{first}", "reporter_id": "{second}"'.encode()
    )
    assert first.encode() in dup
    yield rec(rt, dup, (DEAD, EVENT), "reporter_id twice")
    bad_dup = dup.replace(b'"schema_version": 1', b'"schema_version": 1, "schema_version": "x"')
    yield rec(rt, bad_dup, (DEAD,), "reporter_id twice in a record the schema refuses")
    escaped_key = _j(c.report(lat="bad")).replace(b'"reporter_id"', b'"reporter\\u005fid"')
    yield rec(rt, escaped_key, (DEAD,), "an escaped key in a refused record")
    for hidden in (
        "\\u0000" + c.numbers.id18(),
        "".join(f"\\u{ord(d):04x}" for d in c.numbers.mobile()),
        "\\u00a0".join(_split(c.numbers.mobile())),
        "\\u3000".join(_split(c.numbers.id18x())),
    ):
        escaped = _j(c.report(lat="bad", description="PLACEHOLDER"))
        yield rec(
            rt,
            escaped.replace(b"PLACEHOLDER", hidden.encode()),
            (DEAD,),
            "a number behind JSON escapes in a refused record",
            kind="schema",
        )
    broken = _j(c.report())[:-20]
    yield rec(
        rt, broken, (DEAD,), "truncated JSON (ids inside)"
    )  # invalid_json, or invalid_utf8 if cut inside a character
    # numbers as strings, NaN, Infinity, huge numbers
    yield rec(
        st, c.scan(lat="32.44", lon="119.93"), (DEAD,), "coordinates as strings", kind="schema"
    )
    yield rec(st, _j(c.scan(lat="NAN")).replace(b'"NAN"', b"NaN"), (DEAD,), "NaN")
    yield rec(st, _j(c.scan(lat="INF")).replace(b'"INF"', b"Infinity"), (DEAD,), "Infinity")
    yield rec(st, _j(c.scan(lat="INF")).replace(b'"INF"', b"1e999"), (DEAD,), "1e999")
    yield rec(
        st,
        _j(c.scan(lat="INF")).replace(b'"INF"', b"-0.0"),
        (EVENT, DEAD),  # placed by its code: -0.0 is a latitude like any other
        "latitude -0.0 with the city's longitude",
    )
    yield rec(
        st,
        _j(c.scan(lat="INF")).replace(b'"INF"', b"3" + b"2" * 400),
        (DEAD,),
        "a 401-digit latitude",
    )
    yield rec(rt, c.report(schema_version=2**70), (DEAD,), "schema_version 2**70")
    # timestamps
    for stamp, outcomes in [
        ((datetime.now(UTC) + timedelta(hours=14)).strftime("%Y-%m-%dT%H:%M:%S+14:00"), ok),
        ((datetime.now(UTC) - timedelta(hours=12)).strftime("%Y-%m-%dT%H:%M:%S-12:00"), ok),
        (
            (datetime.now(UTC) + timedelta(hours=5, minutes=45)).strftime(
                "%Y-%m-%dT%H:%M:%S.123456+05:45"
            ),
            ok,
        ),
        (
            (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.123456789Z"),
            (EVENT, DEAD),
        ),
        ((datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dt%H:%M:%Sz"), (EVENT, DEAD)),
        (
            (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S+0800"),
            (EVENT, DEAD),
        ),
        ((datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S"), (DEAD,)),
        ((datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S+25:00"), (DEAD,)),
        (
            (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S+08:00:30"),
            (EVENT, DEAD),
        ),
        (
            (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT23:59:60+08:00"),
            (EVENT, DEAD),
        ),
        ("2016-12-31T23:59:60Z", (DEAD,)),
        ("1900-01-01T00:00:00+08:00", (DEAD,)),
        ("0001-01-01T00:00:00Z", (DEAD,)),
        ("9999-12-31T23:59:59.999999-23:59", (DEAD,)),
        ("2026-02-30T10:00:00+08:00", (DEAD,)),
        ("now", (DEAD,)),
        ((datetime.now(UTC) + timedelta(days=3)).isoformat(), (DEAD,)),
    ]:
        yield rec(rt, c.report(occurred_at=stamp), outcomes, f"occurred_at {stamp}")
    # keys against values
    yield rec(rt, c.report(), (DEAD,), "keyed by another code", key=b"TZMP-NOT-THIS-ONE")
    yield rec(
        rt,
        c.report(),
        (DEAD,),
        "keyed by a phone number",
        key=disguised(c.numbers.mobile(), 2).encode(),
    )
    yield rec(rt, c.report(), (DEAD, EVENT), "no key")
    yield rec(rt, c.report(), (DEAD,), "a key with NUL", key=code + b"\x00")
    yield rec(rt, c.report(), (DEAD,), "a key of invalid UTF-8", key=b"\xff" + code)
    yield rec(
        pt, c.patrol(), (DEAD,), "a patrol keyed by another worker", key=c.person("W").encode()
    )
    yield rec(
        pt,
        c.patrol(worker_id=c.person("W")),
        (DEAD,),
        "a patrol keyed by its worker's id in another form",
        key=None,
    )
    # keys far past any limit: Tansu takes them whole
    yield rec(rt, c.report(), (DEAD,), "a 900 KB key", key=b"A" * 900_000, kind="bad_key")
    yield rec(st, c.scan(), (DEAD,), "a 300 KB key of digits", key=c.pn().encode() * 20_000)
    # headers: CloudEvents that disagree, bytes that are not text, a 500 KB header
    for headers, outcomes, why in [
        ((("ce_type", b"civic.scan.v1"),), (DEAD,), "a report whose ce_type says scan"),
        ((("ce_id", str(uuid.uuid4()).encode()),), (DEAD, EVENT), "a ce_id not its event_id"),
        ((("ce_specversion", b"\xff\xfe"),), (DEAD, EVENT), "a header of invalid UTF-8"),
        ((("x-note", c.pn().encode() * 40_000),), (DEAD, EVENT), "a 500 KB header"),
        ((("ce_type", b""), ("ce_type", b"x")), (DEAD, EVENT), "ce_type twice"),
    ]:
        yield Hostile(rt, code, _j(c.report()), outcomes, why, None, headers)
    # tombstones on event topics
    yield rec(rt, None, (DEAD,), "a tombstone on reports")
    yield rec(st, None, (DEAD,), "a tombstone with an empty key on scans", key=b"")
    yield rec(pt, None, (DEAD,), "a tombstone on patrols", key=c.person("W").encode())
    # places: unknown grids and codes, coordinates outside everything
    yield rec(
        rt,
        c.report(code=_DROP, lat=_DROP, lon=_DROP, grid_id="NO-SUCH-GRID-XYZ"),
        (DEAD,),
        "an unregistered grid",
        key=b"NO-SUCH-GRID-XYZ",
    )
    yield rec(rt, c.report(code=_DROP, lat=0.0, lon=0.0), (DEAD,), "null island", key=None)
    yield rec(
        rt,
        c.report(code="TZ-UNREGISTERED-1"),
        (DEAD, EVENT),
        "an unregistered code",
        key=b"TZ-UNREGISTERED-1",
    )
    # roles
    yield rec(
        rt,
        c.report(reporter_role="operator"),
        (DEAD,),
        "a resident claiming to be an operator",
        kind="schema",
    )
    yield rec(
        st,
        c.scan(
            scanner_role="grid_worker",
            scanner_id=c.place.grid_worker,
            purpose="patrol",
            code=c.place.code,
        ),
        ok,
        "a worker's scan in their own grid",
    )
    yield rec(
        pt,
        c.patrol(grid_id=c.place.other_grid),
        (EVENT, DEAD),
        "a patrol in a grid the worker is not authorised for",
        key=c.place.grid_worker.encode(),
    )
    # the same event id again: a resend
    again = c.report()
    yield rec(rt, again, ok, "a report sent once")
    yield rec(rt, again, (DUPLICATE,), "the same report resent")
    yield rec(
        rt,
        {**again, "description": "changed " + c.pn()},
        (DUPLICATE, DEAD),
        "the same event id with another body",
    )


def updates(c: Corpus, topic: str, case_id: str, other_case: str) -> Iterator[Hostile]:
    """Case updates, once there is a case (`case_id`, in the place's grid) and a case of
    another grid (`other_case`)."""
    key = case_id.encode()
    p = c.place

    def rec(
        value: dict[str, Any] | bytes | None,
        outcomes: tuple[frozenset[str], ...],
        why: str,
        key: bytes | None = key,
        kind: str | None = None,
    ) -> Hostile:
        raw = value if isinstance(value, bytes) or value is None else _j(value)
        return Hostile(topic, key, raw, outcomes, why, kind)

    resident = c.person()
    refused = c.update(case_id, actor_id=c.person(), actor_kind="resident", action="cancel")
    yield rec(refused, (REFUSED_UPDATE,), "a resident cancelling", kind="unauthorised")
    yield rec(refused, (DUPLICATE,), "the refused update resent")
    yield rec(
        c.update(case_id, actor_id=resident, actor_kind="operator", action="reopen"),
        (REFUSED_UPDATE,),
        "a resident claiming operator",
        kind="unauthorised",
    )
    yield rec(
        c.update(case_id, actor_id=c.person(), actor_kind="resident", action="close"),
        (REFUSED_UPDATE,),
        "a resident closing",
        kind="unauthorised",
    )
    yield rec(
        c.update(case_id, actor_id=p.grid_worker, actor_kind="operator", action="cancel"),
        (REFUSED_UPDATE,),
        "a grid worker claiming operator",
        kind="unauthorised",
    )
    yield rec(
        c.update(
            other_case, actor_id=p.grid_worker, actor_kind="grid_worker", action="self_handle"
        ),
        (REFUSED_UPDATE,),
        "a grid worker of another grid self-handling",
        key=other_case.encode(),
        kind="unauthorised",
    )
    yield rec(
        c.update(case_id, actor_id=p.department, actor_kind="department", action="handle"),
        (REFUSED_UPDATE,),
        "a department on a case not dispatched to it",
    )
    yield rec(
        c.update(case_id, actor_id=p.department, actor_kind="operator", action="cancel"),
        (REFUSED_UPDATE,),
        "a department claiming operator",
        kind="unauthorised",
    )
    yield rec(
        c.update(case_id, actor_id=p.operator, actor_kind="grid_worker", action="self_handle"),
        (REFUSED_UPDATE,),
        "an operator claiming to be a grid worker",
    )
    yield rec(
        c.update(
            case_id,
            actor_id=p.operator,
            actor_kind="operator",
            action="evaluate",
            satisfaction="satisfied",
        ),
        (EVENT, REFUSED_UPDATE),
        "an operator evaluating",
    )
    unknown = case_id.rsplit("~", 1)[0] + "~987654"
    yield rec(
        c.update(unknown),
        (DEAD, REFUSED_UPDATE),
        "an unknown case in a real grid",
        key=unknown.encode(),
    )
    yield rec(
        c.update("NO-SUCH-GRID-XYZ~1"),
        (DEAD, REFUSED_UPDATE),
        "a case of an unregistered grid",
        key=b"NO-SUCH-GRID-XYZ~1",
    )
    yield rec(c.update(case_id), (DEAD,), "keyed by another case", key=other_case.encode())
    yield rec(c.update(case_id, action="teleport"), (DEAD,), "an unknown action", kind="schema")
    yield rec(
        c.update(case_id, actor_kind="mayor"), (DEAD,), "an unknown actor kind", kind="schema"
    )
    yield rec(
        c.update(
            case_id,
            actor_id=c.person(),
            actor_kind="resident",
            action="reclassify",
            category="99999",
        ),
        (DEAD, REFUSED_UPDATE),
        "a resident reclassifying to an unknown category",
    )
    yield rec(
        c.update(case_id, note="\u202e" + c.pn() + "\u0301" * 50),
        (EVENT, REFUSED_UPDATE),
        "an accept with an RTL note",
    )
    yield rec(None, (DEAD,), "a tombstone on case updates")
    first = c.person()
    dup = _j(
        c.update(
            case_id,
            actor_id="FIRST",
            actor_kind="resident",
            action="evaluate",
            satisfaction="dissatisfied",
        )
    ).replace(b'"actor_id": "FIRST"', f'"actor_id": "{first}", "actor_id": "{c.person()}"'.encode())
    yield rec(dup, (DEAD, EVENT, REFUSED_UPDATE), "actor_id twice")


def state(
    c: Corpus, topics: dict[str, str], grid: dict[str, Any], registry: dict[str, Any]
) -> Iterator[Hostile]:
    """Hostile state records. `outcomes` here: DEAD (the follower refused it: a dead letter)
    or EVENT meaning "applied" (a state record is in no event table when it is fine)."""
    gt, rg, at = topics["grids"], topics["registry"], topics["actors"]
    applied = (frozenset(),)

    def rec(
        topic: str,
        key: bytes | None,
        value: dict[str, Any] | bytes | None,
        outcomes: tuple[frozenset[str], ...],
        why: str,
    ) -> Hostile:
        raw = value if isinstance(value, bytes) or value is None else _j(value)
        return Hostile(topic, key, raw, outcomes, why)

    gid = grid["grid_id"]
    # a grid renamed with numbers in its names: applied, masked in the mirror
    yield rec(
        gt,
        gid.encode(),
        {**grid, "name": f"{grid['name']}{c.pn()}", "city": f"泰州市{c.pn()}"},
        applied,
        "a grid name with a number",
    )
    yield rec(gt, b"", None, (DEAD,), "a tombstone with an empty key on grids")
    yield rec(
        gt, b"NO-SUCH-GRID-TOMB", None, (*applied, DEAD), "a tombstone of a grid never registered"
    )
    yield rec(
        gt,
        b"G-HUGE",
        {
            **grid,
            "grid_id": "G-HUGE",
            "polygon": [[110, 20], [125, 20], [125, 35], [110, 35], [110, 20]],
        },
        (DEAD,),
        "a 15x15 degree polygon",
    )
    yield rec(
        gt,
        b"G-OPEN",
        {
            **grid,
            "grid_id": "G-OPEN",
            "polygon": [[119.9, 32.4], [119.91, 32.4], [119.91, 32.41], [119.9, 32.41]],
        },
        (DEAD,),
        "an open ring",
    )
    yield rec(
        gt, b"G-OTHER-KEY", {**grid, "grid_id": "G-MISMATCH"}, (DEAD,), "a grid keyed by another id"
    )
    yield rec(
        gt,
        b"G-NAN",
        _j({**grid, "grid_id": "G-NAN", "households": "NAN"}).replace(b'"NAN"', b"NaN"),
        (DEAD,),
        "NaN households",
    )
    yield rec(
        gt,
        b"G-SELF",
        {**grid, "grid_id": "G-SELF", "neighbours": ["G-SELF"]},
        (DEAD,),
        "its own neighbour",
    )
    yield rec(
        gt,
        b"G-WORKERS",
        {**grid, "grid_id": "G-WORKERS", "worker_ids": [f"W{n}" for n in range(300)]},
        (DEAD,),
        "300 workers",
    )
    yield rec(gt, b"G-BAD", b"{not json", (DEAD,), "not JSON")
    code = registry["code"]
    yield rec(
        rg,
        code.encode(),
        {
            **registry,
            "name": f"幸福里{c.pn()}号",
            "attributes": {"owner": f"物业{c.pn()}", "note": c.pn(), "n": 1},
        },
        applied,
        "numbers in a code's name and attributes",
    )
    yield rec(rg, b"", None, (DEAD,), "a tombstone with an empty key on the registry")
    yield rec(
        rg,
        b"TZ-NUL",
        {**registry, "code": "TZ-NUL", "attributes": {"x": "a\u0000b"}},
        (DEAD,),
        "NUL in an attribute",
    )
    yield rec(
        rg,
        b"TZ-DEEP",
        {**registry, "code": "TZ-DEEP", "attributes": {"x": {"y": {"z": 1}}}},
        (DEAD,),
        "a nested attribute",
    )
    yield rec(
        rg,
        b"TZ-BIGINT",
        {**registry, "code": "TZ-BIGINT", "attributes": {"x": 2**70}},
        (*applied, DEAD),  # refused, or taken as the float it fits
        "an attribute past bigint",
    )
    yield rec(
        rg,
        b"TZ-NOGRID",
        {**registry, "code": "TZ-NOGRID", "grid_id": "NO-SUCH-GRID-XYZ"},
        (*applied, DEAD),
        "a code in an unregistered grid",
    )
    yield rec(
        rg,
        b"TZ-WRONGKEY",
        {**registry, "code": "TZ-OTHER"},
        (DEAD,),
        "a code keyed by another code",
    )
    yield rec(rg, b"TZ-FAR", {**registry, "code": "TZ-FAR", "lat": 91.0}, (DEAD,), "latitude 91")
    yield rec(
        at,
        b"OP-SELF",
        {"actor_id": "OP-SELF", "kind": "resident"},
        (DEAD,),
        "a resident on the roster",
    )
    yield rec(
        at,
        b"OP-NORUNG",
        {"actor_id": "OP-NORUNG", "kind": "operator"},
        (DEAD,),
        "an operator without a rung",
    )
    yield rec(
        at,
        b"W-NOGRIDS",
        {"actor_id": "W-NOGRIDS", "kind": "grid_worker", "grids": []},
        (DEAD,),
        "a grid worker without grids",
    )
    yield rec(
        at,
        b"OP-OTHER",
        {"actor_id": "OP-MISMATCH", "kind": "operator", "rung": "city"},
        (DEAD,),
        "an actor keyed by another id",
    )
    yield rec(at, b"", None, (DEAD,), "a tombstone with an empty key on actors")
    yield rec(
        at,
        b"D-NAME",
        {
            "actor_id": "D-NAME",
            "kind": "department",
            "departments": ["water"],
            "name": f"水务{c.pn()}",
        },
        applied,
        "a department whose name has a number",
    )
    yield rec(at, b"W-GHOST", None, applied, "a tombstone of an actor never listed")
