"""A hot point (issue 16 item 4): thousands of reports on one code through the pure core.

    python -m benchmarks.hotpoint [--reports N] [--batch N] [--order ordered|shuffled]

Two measurements, both without services: `CaseBook.report` alone, and the grid stage's whole
pure work in batches of 500: `GridWork.embed` (the classifier's vector work, which a worker
runs in its encoder thread) and `GridWork.plan` (on the event loop: classification from the
vectors, case book, rows and messages), with the bytes it would write to `case_history` and
publish on civic.cases.v1. The reports are one text on one code, each from a different resident, one
second apart; `--order shuffled` sends them in random time order (a late report completes
later reports' weeks, the costly case).
"""

import argparse
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson

from civicgrid.domain.casebook import CaseBook, ReportFacts
from civicgrid.domain.classifier import Classifier
from civicgrid.domain.gridwork import GridWork
from civicgrid.domain.taxonomy import Taxonomy
from civicgrid.schemas.enums import Channel, Role, Severity
from civicgrid.schemas.inbound import Report
from civicgrid.schemas.internal import GridEnvelope, Origin
from civicgrid.topics import catalogue as topics

T0 = datetime(2026, 3, 2, 1, tzinfo=UTC)
CODE = "TZ-MH-000001"
CATEGORY = "01002"  # a sewer manhole cover: the burst pipe a whole street sees
# one problem, one way of telling it: the encoder caches a text it has seen, so the figures
# are the case book's, not the encoder's (~35 ms a new text, docs/classifier.md)
BURST = "小区门口的窨井盖不见了，很危险，晚上有人差点掉下去"


@dataclass(frozen=True)
class HotPoint:
    reports: int
    book_seconds: float  # CPU seconds: the machine is shared, its wall clock is noisy
    plan_seconds: float  # the plan alone, on the event loop in a worker
    embed_seconds: float  # GridWork.embed, in a worker's encoder thread
    history_bytes: int
    case_messages: int
    case_message_bytes: int


def _times(reports: int, order: str, seed: int) -> list[datetime]:
    times = [T0 + timedelta(seconds=n) for n in range(reports)]
    if order == "shuffled":
        random.Random(seed).shuffle(times)
    return times


def _facts(times: list[datetime], taxonomy: Taxonomy) -> Iterator[ReportFacts]:
    category = taxonomy.get(CATEGORY)
    for n, at in enumerate(times):
        yield ReportFacts(
            event_id=str(uuid.UUID(int=n + 1)),
            occurred_at=at,
            grid_id="G-HOT",
            code=CODE,
            lat=32.4551,
            lon=119.9235,
            category=CATEGORY,
            severity=Severity.P1,
            departments=("drainage",),
            limit=category.limit,
            reporter_hash=f"h:resident-{n}",
        )


def _envelopes(times: list[datetime]) -> list[GridEnvelope]:
    return [
        GridEnvelope(
            kind="report",
            grid_id="G-HOT",
            origin=Origin(topic=topics.REPORTS.name, partition=0, offset=n),
            report=Report(
                event_id=uuid.UUID(int=n + 1),
                occurred_at=at,
                schema_version=1,
                channel=Channel.SCAN,
                code=CODE,
                lat=32.4551,
                lon=119.9235,
                description=BURST,
                reporter_id=f"h:resident-{n}",
                reporter_role=Role.RESIDENT,
            ),
        )
        for n, at in enumerate(times)
    ]


def measure(reports: int, batch: int, order: str = "ordered", seed: int = 16) -> HotPoint:
    taxonomy = Taxonomy.default()
    times = _times(reports, order, seed)
    book = CaseBook()
    started = time.process_time()
    for facts in _facts(times, taxonomy):
        book.report(facts, facts.occurred_at)
    book_seconds = time.process_time() - started

    work = GridWork(Classifier.default(taxonomy), taxonomy)
    envelopes = _envelopes(times)
    book = CaseBook()
    history = messages = message_bytes = 0
    plan_seconds = embed_seconds = 0.0
    for first in range(0, len(envelopes), batch):
        chunk = envelopes[first : first + batch]
        started = time.process_time()
        embedded = work.embed(chunk)  # as the grid stage does, in its encoder thread
        embed_seconds += time.process_time() - started
        started = time.process_time()
        plan = work.plan(chunk, set(), book, embedded)
        plan_seconds += time.process_time() - started
        history += sum(len(orjson.dumps(row[-1])) for row in plan.history)
        cases = [m for m in plan.messages if m.topic == topics.CASES.name]
        messages += len(cases)
        message_bytes += sum(len(m.value) for m in cases)
    return HotPoint(
        reports, book_seconds, plan_seconds, embed_seconds, history, messages, message_bytes
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500, help="envelopes per grid-stage plan")
    parser.add_argument("--order", choices=("ordered", "shuffled"), default="ordered")
    args = parser.parse_args()
    result = measure(args.reports, args.batch, args.order)
    print(
        f"{result.reports:,} reports on one code ({args.order}): "
        f"CaseBook.report {result.book_seconds:.2f} CPU s; "
        f"GridWork.plan in batches of {args.batch} {result.plan_seconds:.2f} CPU s "
        f"(+ GridWork.embed {result.embed_seconds:.2f} CPU s, the encoder's thread), "
        f"case_history snapshots {result.history_bytes / 1e6:.2f} MB, "
        f"{result.case_messages:,} civic.cases.v1 snapshots of "
        f"{result.case_message_bytes / 1e6:.2f} MB"
    )


if __name__ == "__main__":
    main()
