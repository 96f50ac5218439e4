"""Prometheus metrics of the pipeline. Labels are bounded: no grid, case or person ids."""

from prometheus_client import Counter, Gauge, Histogram, Info

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_BATCH_BUCKETS = (1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000)

EVENTS_IN = Counter("civicgrid_events_in", "Inbound messages consumed", ["topic"])
EVENTS_OUT = Counter("civicgrid_events_out", "Messages produced", ["topic"])
DEAD_LETTERS = Counter(
    "civicgrid_dead_letters", "Messages sent to the dead-letter topic", ["topic", "kind"]
)
DUPLICATES = Counter(
    "civicgrid_duplicate_events", "Events already processed (same event_id), skipped", ["topic"]
)
UNKNOWN_CODES = Counter(
    "civicgrid_unknown_codes", "Events whose code is not in the registry", ["topic"]
)
REGISTRY_RECORDS = Counter(
    "civicgrid_registry_records",
    "Registry and grid records the worker's city view has taken in (applied or rejected)",
    ["topic"],
)
MIRROR_ROWS = Counter(
    "civicgrid_state_mirror_rows",
    "Rows of the PostgreSQL state mirror this worker upserted, deleted or had refused",
    ["topic", "op"],
)
UNAUTHORISED_SCANS = Counter(
    "civicgrid_unauthorised_scans", "Grid-worker scans of a code outside their grids"
)
HOUSEHOLD_FINDINGS = Counter(
    "civicgrid_household_findings",
    "Household cross-check findings raised or withdrawn (issue 21)",
    ["kind", "action"],
)
HOUSEHOLD_RECONCILED = Counter(
    "civicgrid_household_persons_reconciled", "Persons the household reconciliation re-ran"
)
UNAUTHORISED_UPDATES = Counter(
    "civicgrid_unauthorised_updates",
    "Case updates refused as outside their actor's roster scope (dead letter unauthorised)",
    ["actor_kind", "action"],
)
CLASSIFICATIONS = Counter(
    "civicgrid_classifications", "Reports classified", ["category", "severity"]
)
ESCALATIONS = Counter(
    "civicgrid_escalations", "Cases escalated or dispatched to the network", ["reason", "level"]
)
DISPATCHES = Counter("civicgrid_dispatches", "Dispatch tasks published", ["level"])
DISPATCH_WITHDRAWALS = Counter(
    "civicgrid_dispatch_withdrawals", "Dispatch tasks withdrawn: their case was reclassified"
)
# Operators' reclassifications: per category and day, a live estimate of the classifier's
# accuracy (issue 17). Labels are taxonomy codes: bounded (at most categories squared).
CLASSIFICATION_CORRECTIONS = Counter(
    "civicgrid_classification_corrections",
    "Cases an operator reclassified, by the category they had and the one they were given",
    ["from_category", "to_category"],
)
CASE_TRANSITIONS = Counter("civicgrid_case_transitions", "Case state changes", ["state"])
OPEN_CASES = Gauge("civicgrid_open_cases", "Open cases in Postgres", ["level", "state"])
OVERDUE_CASES = Gauge("civicgrid_overdue_cases", "Open cases past their deadline")
SLA_EVENTS = Counter("civicgrid_sla_events", "SLA warnings and breaches fired", ["kind"])
ALERTS = Counter("civicgrid_alerts", "Early-warning alerts published", ["kind"])
STAGE_LATENCY = Histogram(
    "civicgrid_stage_latency_seconds",
    "Event time to processed, per stage",
    ["stage"],
    buckets=_LATENCY_BUCKETS,
)
SINK_BATCH_ROWS = Histogram(
    "civicgrid_sink_batch_rows", "Rows written per sink transaction", buckets=_BATCH_BUCKETS
)
SINK_BATCH_SECONDS = Histogram(
    "civicgrid_sink_batch_duration_seconds",
    "Duration of one sink transaction",
    buckets=_LATENCY_BUCKETS,
)
SINK_ROWS = Counter("civicgrid_sink_rows", "Rows newly written to Postgres", ["table"])
SINK_FAILURES = Counter("civicgrid_sink_failures", "Sink transactions that failed and were retried")
SINK_UP = Gauge("civicgrid_sink_up", "1 while the sink can write to Postgres")
CONSUMER_LAG = Gauge(
    "civicgrid_consumer_lag_messages",
    "High-water mark minus committed offset",
    ["topic", "partition"],
)
REGISTRY_FAILURES = Counter(
    "civicgrid_registry_follower_failures",
    "Failures of the registry follower's reading (each retried; the worker is not ready)",
)
SLA_TIMER_FAILURES = Counter(
    "civicgrid_sla_timer_failures",
    "Cases whose SLA timer could not be computed on a tick (the grid's other timers fire)",
)
READY = Gauge("civicgrid_ready", "1 when the worker is assigned, recovered and can write")
WORKER = Info("civicgrid_worker", "Worker build and configuration")
