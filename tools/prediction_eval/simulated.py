"""The stream's own early warning, offline, over a simulated month of the city simulator.

Events from ``CitySimulator`` (with anomalies from ``plan_anomalies``) go through the
intake's pure ``route`` and the grid stage's pure ``GridWork.plan`` (classifier, case book,
series counts, repeat points), and the leader's steps after each report (``_Leader``: each
day the watermark closed through ``scoring.score_window``, the day still counting through
``scoring.check_window``) with their state round-tripped as Postgres holds it: the code the
workers run, minus broker and database.
Departments answer every dispatch as ``DepartmentModel`` does in the demo, and their updates
go back through ``route`` and ``GridWork.plan`` at their event times, so cases close: a case
that stayed open forever would keep joining a point's reports and make it a repeat point.

``plan_anomalies`` puts its anomalies in a window 20 % of the run long; over a month that
is six days, no longer a burst. So each anomaly round is planned as a 5-day run of its own,
giving one-day anomalies, a round every 3 days after the history.
"""

import heapq
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

from civicgrid.domain import scoring
from civicgrid.domain.alerts import Alert as EarlyAlert
from civicgrid.domain.alerts import RepeatPointAlert
from civicgrid.domain.casebook import CaseBook
from civicgrid.domain.cityview import CityView
from civicgrid.domain.classifier import Classifier
from civicgrid.domain.gridwork import BatchPlan, GridWork
from civicgrid.domain.privacy import KeyedHasher
from civicgrid.domain.routing import RawRecord, route
from civicgrid.domain.taxonomy import Taxonomy
from civicgrid.domain.windows import Series
from civicgrid.schemas.inbound import ActorRecord, GridRecord, RegistryRecord
from civicgrid.schemas.internal import GridEnvelope
from civicgrid.topics import catalogue as topics
from tools.city.anomalies import ANOMALY_KINDS, Anomaly, plan_anomalies
from tools.city.departments import DepartmentModel
from tools.city.mix import EVENTS_PER_OCCASION, OCCASION_WEIGHTS
from tools.city.model import City
from tools.city.publish import city_records
from tools.city.simulate import CitySimulator
from tools.prediction_eval.synth import REPORTS_PER_GRID_DAY, Injected, Report

ACCELERATION = 3600.0  # one simulated hour per real second
ROUND_DAYS = 3
_DAY = timedelta(days=1)


def events_per_second(city: City) -> float:
    """The simulator rate (real seconds) giving REPORTS_PER_GRID_DAY background reports."""
    report_share = OCCASION_WEIGHTS[0] + OCCASION_WEIGHTS[1]
    per_day = REPORTS_PER_GRID_DAY * len(city.grids) / report_share * EVENTS_PER_OCCASION
    return per_day / 86400 * ACCELERATION


def _view(city: City) -> CityView:
    view = CityView()
    for topic, key, value in city_records(city):
        if topic == topics.GRIDS.name:
            view.apply_grid(key, GridRecord.model_validate_json(orjson.dumps(value)))
        elif topic == topics.ACTORS.name:
            view.apply_actor(key, ActorRecord.model_validate_json(orjson.dumps(value)))
        else:
            view.apply_code(key, RegistryRecord.model_validate_json(orjson.dumps(value)))
    return view


def _anomalies(
    city: City, seed: int, start: datetime, history_days: int, days: int
) -> list[Anomaly]:
    rate = events_per_second(city)
    round_s = 5 * 86400 / ACCELERATION
    planned: list[Anomaly] = []
    # plan_anomalies puts the anomaly 2 days (40 %) into its 5-day run
    for n, offset in enumerate(range(history_days - 2, history_days + days - 4, ROUND_DAYS)):
        round_start = start + offset * _DAY
        planned += plan_anomalies(
            city,
            ANOMALY_KINDS,
            seed * 1000 + n,
            round_start,
            rate=rate,
            duration_s=round_s,
            acceleration=ACCELERATION,
        )
    return planned


@dataclass
class SimulatedRun:
    alerts: list[tuple[datetime, EarlyAlert]]
    truth: list[Injected]
    reports: int
    daily_counts: dict[datetime, dict[Series, int]]
    case_updates: int
    log: list[Report]  # every classified report, in the case's category, for the rule check


_DISPATCH_TOPICS = (topics.DISPATCH_GRID.name, topics.DISPATCH_NETWORK.name)


class _GridStage:
    """The grid stage with one case book for the whole city, and departments answering it."""

    def __init__(self, city: City, seed: int) -> None:
        self.view, self.hasher = _view(city), KeyedHasher(b"prediction-eval-key-0123456789ab")
        taxonomy = Taxonomy.default()
        self.work, self.book = GridWork(Classifier.default(taxonomy), taxonomy), CaseBook()
        self.departments = DepartmentModel(seed)
        self.seen: set[str] = set()
        self.counts: dict[datetime, dict[Series, int]] = defaultdict(dict)
        self.alerts: list[tuple[datetime, EarlyAlert]] = []
        self.log: list[Report] = []
        # department updates not yet due: (event time, sequence, update value)
        self.pending: list[tuple[datetime, int, dict[str, Any]]] = []
        self.offset = 0  # of the next routed record, as if all came from one partition
        self.sequence = 0  # orders pending updates due at the same moment
        self.updates = 0

    def envelope(self, topic: str, key: str | None, value: dict[str, Any]) -> GridEnvelope:
        self.offset += 1
        key_bytes = None if key is None else key.encode()
        record = RawRecord(topic, 0, self.offset, None, key_bytes, orjson.dumps(value), ())
        # received the moment it happens, on the simulated clock
        received = datetime.fromisoformat(str(value["occurred_at"]))
        return route(record, self.view, self.hasher, received)

    def plan(self, envelope: GridEnvelope, at: datetime) -> BatchPlan:
        event = envelope.report or envelope.case_update
        event_id = None if event is None else str(event.event_id)
        # plan copies the ids it is given; only this envelope's own id can make it a duplicate
        plan = self.work.plan([envelope], self.seen & {event_id}, self.book)
        if event_id is not None:
            self.seen.add(event_id)
        for message in plan.messages:
            if message.topic in _DISPATCH_TOPICS:
                for _, update in self.departments.respond(orjson.loads(message.value), at):
                    due = datetime.fromisoformat(update["occurred_at"])
                    self.sequence += 1
                    heapq.heappush(self.pending, (due, self.sequence, update))
        return plan

    def answer_until(self, now: datetime) -> None:
        """Feed every department update due by ``now`` (event time) to the case book."""
        while self.pending and self.pending[0][0] <= now:
            due, _, update = heapq.heappop(self.pending)
            envelope = self.envelope(topics.CASE_UPDATES.name, update["case_id"], update)
            if envelope.case_update is not None:
                self.updates += 1
                self.plan(envelope, due)

    def report(self, envelope: GridEnvelope) -> set[str]:
        """Plan one report; return the categories of the series it was counted in."""
        report = envelope.report
        assert report is not None
        at = report.occurred_at
        plan = self.plan(envelope, at)
        for (grid, category, _, window_start), n in plan.series_counts.items():
            series = self.counts[window_start]
            series[(grid, category)] = series.get((grid, category), 0) + n
        for classification in plan.classifications:
            self.log.append(
                Report(
                    str(report.event_id), at, at, envelope.grid_id, classification.category,
                    report.code, report.lat, report.lon,
                )
            )  # fmt: skip
        for row in plan.alerts:
            if row[1] == "repeat_point":
                _, case_id, crossing = row[0].split(":")
                self.alerts.append((at, _repeat(plan.cases[case_id], crossing, row, at)))
        return {category for _, category, _, _ in plan.series_counts}


class _Leader:
    """The leader's early warning as the stream runs it, each step after a report is counted:
    every day the watermark (latest event time - grace) has passed is scored, oldest first,
    with its state round-tripped as Postgres holds it (alerts at window end + grace); then
    the day still counting is checked for alerts it has earned already (alerts at the latest
    event time). A report for a day already scored is counted but not scored, as in the
    stream."""

    def __init__(
        self, counts: dict[datetime, dict[Series, int]], neighbours: dict[str, tuple[str, ...]]
    ) -> None:
        self.counts, self.neighbours = counts, neighbours
        self.baselines: dict[Series, Any] = {}
        self.memory = scoring.first_memory()
        self.raised: list[scoring.Raised] = []  # the alerts table's rows of the open day
        self.alerts: list[tuple[datetime, EarlyAlert]] = []
        self.next: datetime | None = None  # the day to score next
        self.latest: datetime | None = None

    def counted(self, categories: set[str], at: datetime) -> None:
        """After a report at ``at`` was counted in series of ``categories``."""
        if self.next is None or self.latest is None:
            self.next, self.latest = scoring.count_key("", "", at)[3], at
        self.latest = max(self.latest, at)
        moved = False
        while self.next + scoring.WINDOW <= self.latest - scoring.GRACE:
            self.score(self.next)
            self.next += scoring.WINDOW
            moved = True
        running = self.counts.get(self.next, {})
        # the leader checks every series; only the new report's category can have changed,
        # unless the day to check has just moved on
        counts = {k: n for k, n in running.items() if moved or k[1] in categories}
        baselines = {k: self.baselines[k] for k in counts if k in self.baselines}
        early = scoring.check_window(
            scoring.WindowInputs(
                self.next, counts, baselines, self.memory, self.raised, self.neighbours
            )
        )
        for alert in early:
            self.raised.append((alert.kind.value, alert.grid_ids, alert.category))
            self.alerts.append((self.latest, alert))

    def score(self, day: datetime) -> None:
        counts = self.counts.get(day, {})
        result = scoring.score_window(
            scoring.WindowInputs(
                day, counts, self.baselines, self.memory, self.raised, self.neighbours
            )
        )
        self.baselines = {k: orjson.loads(orjson.dumps(s)) for k, s in result.baselines.items()}
        self.memory = orjson.loads(orjson.dumps(result.memory))
        self.raised = []
        self.alerts.extend((alert.window_end + scoring.GRACE, alert) for alert in result.alerts)


def run(
    city: City, seed: int, start: datetime, history_days: int, days: int, with_anomalies: bool
) -> SimulatedRun:
    anomalies = _anomalies(city, seed, start, history_days, days) if with_anomalies else []
    simulator = CitySimulator(city, seed, start, ACCELERATION, anomalies)
    stage = _GridStage(city, seed)
    leader = _Leader(stage.counts, {g.grid_id: g.neighbours for g in city.grids})
    by_code: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    reports = 0
    duration_s = (history_days + days) * 86400 / ACCELERATION
    for event in simulator.events(events_per_second(city), duration_s):
        if event.topic != topics.REPORTS.name:
            continue  # only reports are classified and counted
        reports += 1
        envelope = stage.envelope(event.topic, event.key, event.value)
        if envelope.report is None:
            continue
        stage.answer_until(envelope.report.occurred_at)
        if envelope.report.code is not None:
            by_code[envelope.report.code].append(
                (envelope.report.occurred_at, str(envelope.report.event_id))
            )
        leader.counted(stage.report(envelope), envelope.report.occurred_at)
    alerts = stage.alerts + leader.alerts
    truth = [_truth(a, by_code) for a in anomalies]
    return SimulatedRun(alerts, truth, reports, dict(stage.counts), stage.updates, stage.log)


def _repeat(case: Any, crossing: str, row: tuple[Any, ...], at: datetime) -> RepeatPointAlert:
    """The stream's repeat alert in the form the scorer matches on: the ids of its case's
    reports, the report that raised it (named by the alert id) last."""
    return RepeatPointAlert(
        grid_ids=tuple(row[2]),
        category=row[3],
        observed=row[4],
        expected=row[5],
        score=row[6],
        window_start=row[7],
        window_end=at,
        code=case.code,
        rule="code" if case.code else "location",
        event_ids=(*(e for e in case.event_ids if e != crossing), crossing),
    )


def _truth(anomaly: Anomaly, by_code: dict[str, list[tuple[datetime, str]]]) -> Injected:
    if anomaly.code is None:
        return Injected(
            anomaly.kind, anomaly.grid_ids, anomaly.category, anomaly.start, anomaly.end, ()
        )
    # the injected reports of the code (a background report of it in the window counts too)
    hits = sorted(x for x in by_code[anomaly.code] if anomaly.start <= x[0] <= anomaly.end)
    onset = hits[2][0] if len(hits) >= 3 else anomaly.start
    ids = tuple(str(uuid.UUID(event_id)) for _, event_id in hits)
    return Injected(anomaly.kind, anomaly.grid_ids, anomaly.category, onset, anomaly.end, ids)
