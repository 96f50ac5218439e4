"""Write tests/data/fuzz_corpus.jsonl.gz: 10,000 valid inbound records and 10,000 bad ones.

Deterministic (fixed seed, no clock): rerunning it rewrites the same records. Each line is
{"topic", "key", "value", "headers", "expect"}; key, value and header values are base64
(or null), `expect` is "ok" or the dead-letter kind the edge parser must report.

    .venv/bin/python tests/data/make_fuzz_corpus.py
"""

import base64
import gzip
import random
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson

VALID = 10_000
MALFORMED = 10_000
OUT = Path(__file__).with_name("fuzz_corpus.jsonl.gz")

SCANS, REPORTS, PATROLS, UPDATES = (
    "civic.scans.v1",
    "civic.reports.v1",
    "civic.patrols.v1",
    "civic.case-updates.v1",
)
CE_TYPES = {
    SCANS: "civic.scan.v1",
    REPORTS: "civic.report.v1",
    PATROLS: "civic.patrol.v1",
    UPDATES: "civic.case-update.v1",
}
REQUIRED = {SCANS: "scanner_id", REPORTS: "reporter_id", PATROLS: "grid_id", UPDATES: "actor_id"}
KEY_FIELD = {SCANS: "code", REPORTS: "code", PATROLS: "worker_id", UPDATES: "case_id"}
ROLES = ("resident", "grid_worker", "officer")
PHRASES = (
    "楼下井盖没了，晚上很危险",
    "路灯不亮已经三天",
    "小区门口有人占道经营",
    "河道有污水排放，味道很大",
    "消防通道被电动车堵住",
    "工地夜间施工噪声扰民",
    "我是张三，身份证320102199003071234，电话13812345678",
    "联系人李四 138-1234-5678，订单号12345678901234567890",
)
NOTES = ("已到现场", "已整改", "入户走访，无异常", "电话 139 8765 4321 回访")
CATEGORIES = ("01002", "01037", "06010", "09009", "L0301")

Record = tuple[str, bytes | None, bytes | None, list[tuple[str, bytes | None]]]


class Maker:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.base = datetime(2025, 3, 1, tzinfo=timezone(timedelta(hours=8)))

    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def when(self) -> str:
        moment = self.base + timedelta(seconds=self.rng.randrange(30 * 86400))
        return moment.astimezone(self.rng.choice((UTC, moment.tzinfo))).isoformat()

    def code(self) -> str:
        return f"TZ{self.rng.randrange(100_000):05d}"

    def grid(self) -> str:
        return f"G{self.rng.randrange(6000):04d}"

    def person(self) -> str:
        return f"u{self.rng.randrange(50_000)}"

    def point(self) -> dict[str, float]:
        return {
            "lat": round(32.4 + self.rng.random() / 5, 6),
            "lon": round(119.9 + self.rng.random() / 5, 6),
        }

    def event(self, topic: str) -> dict[str, Any]:
        head = {"event_id": self.uid(), "occurred_at": self.when(), "schema_version": 1}
        body: dict[str, Any] = getattr(self, "_" + topic.split(".")[1].replace("-", "_"))()
        return head | body

    def _scans(self) -> dict[str, Any]:
        body = {
            "code": self.code(),
            "scanner_id": self.person(),
            "scanner_role": self.rng.choice(ROLES),
            "purpose": self.rng.choice(("report", "patrol", "visit", "view", "verify")),
        }
        return body | (self.point() if self.rng.random() < 0.5 else {})

    def _reports(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "channel": self.rng.choice(("scan", "app", "hotline", "patrol", "sensor")),
            "description": self.rng.choice(PHRASES),
            "reporter_id": self.person(),
            "reporter_role": self.rng.choice(ROLES),
        }
        where = self.rng.randrange(4)
        if where in (0, 3):
            body["code"] = self.code()
        if where in (1, 3):
            body["grid_id"] = self.grid()
        if where == 2 or self.rng.random() < 0.3:
            body |= self.point()
        if self.rng.random() < 0.3:
            body["category_hint"] = self.rng.choice(CATEGORIES)
        if self.rng.random() < 0.2:
            count = self.rng.randrange(21)
            body["photos"] = [f"https://img.example.cn/{self.uid()[:8]}.jpg" for _ in range(count)]
        return body

    def _patrols(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "worker_id": self.person(),
            "grid_id": self.grid(),
            "kind": self.rng.choice(("patrol", "visit", "rectify", "verify", "check")),
        }
        for field, make in (("code", self.code), ("household_id", self.code)):
            if self.rng.random() < 0.4:
                body[field] = make()
        if self.rng.random() < 0.3:
            body["note"] = self.rng.choice(NOTES)
        return body

    def _case_updates(self) -> dict[str, Any]:
        body = {
            "case_id": f"{self.grid()}~{self.rng.randrange(1, 500)}",
            "actor_id": self.person(),
            "actor_kind": self.rng.choice(("grid_worker", "department", "operator", "resident")),
            "action": self.rng.choice(("accept", "start", "handle", "close", "evaluate")),
        }
        return body | ({"note": self.rng.choice(NOTES)} if self.rng.random() < 0.3 else {})

    def key_of(self, topic: str, body: dict[str, Any]) -> bytes | None:
        if topic == REPORTS:
            keys = [body[f] for f in ("code", "grid_id") if f in body]
            return self.rng.choice(keys).encode() if keys else None
        return str(body[KEY_FIELD[topic]]).encode()

    def headers(self, topic: str, body: dict[str, Any]) -> list[tuple[str, bytes | None]]:
        if self.rng.random() < 0.5:
            return []
        occurred = datetime.fromisoformat(body["occurred_at"]).astimezone(UTC)
        return [
            ("ce_specversion", b"1.0"),
            ("ce_id", body["event_id"].encode()),
            ("ce_type", CE_TYPES[topic].encode()),
            ("ce_source", b"/apps/resident"),
            ("ce_time", occurred.isoformat().replace("+00:00", "Z").encode()),
            ("content-type", b"application/json"),
        ]

    def valid(self) -> Record:
        topic = self.rng.choice(tuple(CE_TYPES))
        body = self.event(topic)
        return topic, self.key_of(topic, body), orjson.dumps(body), self.headers(topic, body)

    # Each malformed maker returns (expected kind, record).

    def invalid_utf8(self) -> tuple[str, Record]:
        topic, key, value, headers = self.valid()
        assert value is not None
        bad = self.rng.choice((b"\xff", b"\xc3\x28", b"\xe4\xb8", b"\xed\xa0\x80", b"\xf8\x88"))
        cut = self.rng.randrange(len(value))
        # Placed inside a string, so a lenient decoder could take it for valid JSON.
        cut = value.index(b'"', cut) + 1 if b'"' in value[cut:] else cut
        return "invalid_utf8", (topic, key, value[:cut] + bad + value[cut:], headers)

    def invalid_json(self) -> tuple[str, Record]:
        topic, key, value, headers = self.valid()
        assert value is not None
        mutations: tuple[Callable[[bytes], bytes], ...] = (
            lambda v: v.decode()[: self.rng.randrange(len(v.decode()))].encode(),
            lambda v: v + b" trailing",
            lambda v: v.replace(b'"', b"'"),
            lambda v: b"[" + v + b"]",
            lambda v: self.rng.choice((b"null", b"42", b'"text"', b"true", b"", b"  ")),
            lambda v: b"\xef\xbb\xbf" + v,
            lambda v: v.replace(b"}", b', "lat": NaN}'),
            lambda v: v.replace(b'"event_id"', b'"x":"\\ud800","event_id"'),
            lambda v: b'{"a":' * 400 + b"1" + b"}" * 400,
            lambda v: v.replace(b",", b",,", 1),
        )
        return "invalid_json", (topic, key, self.rng.choice(mutations)(value), headers)

    def oversize(self) -> tuple[str, Record]:
        topic, key, _, headers = self.valid()
        body = self.event(REPORTS) | {"description": "井" * self.rng.randrange(21_846, 30_000)}
        return "oversize", (topic, key, orjson.dumps(body), headers)

    def schema(self) -> tuple[str, Record]:
        topic = self.rng.choice(tuple(CE_TYPES))
        body = self.event(topic)
        key = self.key_of(topic, body)
        field = self.rng.choice(("event_id", "occurred_at", REQUIRED[topic], "schema_version"))
        mutations: tuple[Callable[[dict[str, Any]], object], ...] = (
            lambda b: b.pop(field),
            lambda b: b.update({field: [1, 2]}),
            lambda b: b.update({"unexpected": 1}),
            lambda b: b.update({"occurred_at": "2025-03-01T08:00:00"}),
            lambda b: b.update({"occurred_at": 1_740_787_200}),
            lambda b: b.update({"event_id": "not-a-uuid"}),
            lambda b: b.update({"schema_version": self.rng.choice((0, -1, "1", 1.5, True, None))}),
            lambda b: b.update({"lat": 91.0, "lon": 120.0}),
            lambda b: (b.update({"lat": 32.5}), b.pop("lon", None)),
            lambda b: b.update({field: "x" * 500}),
            lambda b: b.update({field: "bad\u0000nul"}),
            lambda b: b.update({field: ""}),
        )
        self.rng.choice(mutations)(body)
        if topic == REPORTS and self.rng.random() < 0.3:
            body = self.event(REPORTS)
            self.rng.choice(
                (
                    lambda b: [b.pop(f, None) for f in ("code", "grid_id", "lat", "lon")],
                    lambda b: b.update({"photos": ["https://a.cn/p.jpg"] * 21}),
                    lambda b: b.update({"reporter_role": "mayor"}),
                    lambda b: b.update({"category_hint": "１２３４５"}),
                )
            )(body)
        # A tombstone on an event topic has no event in it.
        value = None if self.rng.random() < 0.02 else orjson.dumps(body)
        return "schema", (topic, key, value, [])

    def unsupported_version(self) -> tuple[str, Record]:
        topic, key, value, headers = self.valid()
        body = orjson.loads(value or b"{}")
        body["schema_version"] = self.rng.choice((2, 3, 10, 2**31))
        if self.rng.random() < 0.5:
            body["field_from_the_future"] = {"nested": True}
        return "unsupported_version", (topic, key, orjson.dumps(body), headers)

    def bad_key(self) -> tuple[str, Record]:
        topic = self.rng.choice((SCANS, PATROLS, UPDATES, REPORTS))
        body = self.event(topic)
        if topic == REPORTS:
            body["code"] = self.code()
        key = self.rng.choice(
            (None, b"", b"\xff\xfe", b"k" * 300, b"someone-else", self.code().encode())
        )
        return "bad_key", (topic, key, orjson.dumps(body), [])

    def cloudevents_mismatch(self) -> tuple[str, Record]:
        topic = self.rng.choice(tuple(CE_TYPES))
        body = self.event(topic)
        other = self.rng.choice([t for t in CE_TYPES.values() if t != CE_TYPES[topic]])
        header = self.rng.choice(
            (
                ("ce_id", self.uid().encode()),
                ("ce_id", b"abc"),
                ("ce_time", b"2020-01-01T00:00:00Z"),
                ("ce_time", b"yesterday"),
                ("ce_time", body["occurred_at"][:19].encode()),
                ("ce_type", other.encode()),
                ("ce_type", b"com.example.unknown"),
                ("ce_source", b""),
                ("ce_id", b"\xff"),
            )
        )
        return "cloudevents_mismatch", (
            topic,
            self.key_of(topic, body),
            orjson.dumps(body),
            [header],
        )


def records(maker: Maker) -> Iterator[tuple[str, Record]]:
    kinds = (
        maker.invalid_utf8,
        maker.invalid_json,
        maker.schema,
        maker.unsupported_version,
        maker.bad_key,
        maker.cloudevents_mismatch,
    )
    oversize_count = 200  # each is > 64 KiB; a few hundred prove the rule at little file size
    for i in range(MALFORMED):
        yield maker.oversize() if i < oversize_count else kinds[i % len(kinds)]()
    for _ in range(VALID):
        yield "ok", maker.valid()


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def main() -> None:
    maker = Maker(seed=20250301)
    lines = [
        orjson.dumps(
            {
                "topic": topic,
                "key": _b64(key),
                "value": _b64(value),
                "headers": [[name, _b64(raw)] for name, raw in headers],
                "expect": expect,
            }
        )
        for expect, (topic, key, value, headers) in records(maker)
    ]
    maker.rng.shuffle(lines)
    # mtime=0 keeps the gzip bytes identical across runs.
    OUT.write_bytes(gzip.compress(b"\n".join(lines) + b"\n", compresslevel=9, mtime=0))
    print(f"{OUT}: {len(lines)} records, {OUT.stat().st_size} bytes")


if __name__ == "__main__":
    main()
