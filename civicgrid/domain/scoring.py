"""Early warning in the stream (SPEC §7): the pure steps from a window's counts to its alerts.

The grid stage counts reports per grid x category x window in Postgres; the leader checks the
window still counting (``check_window``: a series or zone already over the bar of the whole
window alerts now) and scores each window once it has closed (``score_window``). Both are
``EarlyWarning`` fed with the stored counts (zeros for known series without reports), the
stored baselines, the stored episode memory and the window's alerts raised so far, so the
stream alerts exactly as the offline evaluation does, each anomaly once.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from civicgrid.domain.alerts import Alert as EarlyAlert
from civicgrid.domain.baseline import BaselineConfig
from civicgrid.domain.warnings import EarlyWarning
from civicgrid.domain.windows import Series, WindowCount, WindowCounter
from civicgrid.schemas.enums import AlertKind
from civicgrid.schemas.outbound import Alert, Window

WINDOW = timedelta(days=1)
"""Daily windows: hourly grid x category series are too sparse at city report rates to tell
a burst from noise (the evaluation met its targets with days)."""
GRACE = timedelta(hours=1)
UTC_OFFSET = timedelta(hours=8)
# min_expected 0.25: most grid x category series see a report every few days; a floor of 1
# put the bar at 8 reports, above a whole simulated burst once the classifier split it.
# cluster_z = z: the scan tries many neighbourhoods per window. On four anomaly-free
# simulator months (4,320 grid-days) 3.5 gave 2.5 false clusters per 1,000 grid-days and
# 4.0 none, while 4.0 still found 30 of 40 injected clusters (3.5: 37) with that classifier.
# cluster_z_per_grid 0.5: with a flat bar, anomaly-free synthetic months gave 1.9 false
# clusters per 1,000 grid-days (zones of 2-7 grids, their members picked among the high
# ones); +0.5 per grid past two gave 0.65 there and 0.23 on the simulator, still finding
# 37 of 40 simulator clusters (calibration seeds, docs/prediction.md).
# Issue 24 (lattice months: negative binomial counts, weekends x1.3; tuned on seeds 100-109,
# docs/prediction.md): the spread of a count is the negative binomial one with its category's
# over-dispersion, and the bar its tail; a count over the z = 2.5 bar is learnt as that bar;
# the day-of-week factor is shrunk toward the city's by 50 pseudo-reports.
# Then (tuned on seeds 100-105 of both lattice generators): each series' level is shrunk
# toward the grid x category model by empirical Bayes and its bar is the predictive one (the
# category's dispersion with the error of young means taken out, plus the series' own error);
# a category up in many grids together lifts every grid's expectation (10 pseudo-reports).
CONFIG = BaselineConfig(
    alpha=0.1,
    z=4.0,
    cluster_z=4.0,
    cluster_z_per_grid=0.5,
    min_expected=0.25,
    min_sigma=1.0,
    warmup=7,
    seasons=1,
    weekday_prior=50.0,
    learn_z=2.5,
    pooled_dispersion=True,
    pooled_levels=True,
    citywide_prior=10.0,
)
WINDOW_SECONDS = int(WINDOW.total_seconds())

# window_start is a pure function of the size and the offset; one counter serves every call
_WINDOWS = WindowCounter(WINDOW, GRACE, UTC_OFFSET)

CountKey = tuple[str, str, int, datetime]
"""(grid_id, category, window_seconds, window_start): one row of ``series_counts``."""


def window_start(at: datetime) -> datetime:
    """The start of the scoring window holding ``at``."""
    return _WINDOWS.window_start(at)


def count_key(grid_id: str, category: str, occurred_at: datetime) -> CountKey:
    """The series-count row a report at ``occurred_at`` adds one to."""
    return (grid_id, category, WINDOW_SECONDS, _WINDOWS.window_start(occurred_at))


@dataclass(frozen=True, slots=True)
class StreamProgress:
    """How far every partition of the by-grid topic has been processed, in event time."""

    low: datetime | None
    """The least partition watermark; None while a partition has none yet."""
    live: bool
    """Every partition has processed the latest round of watermarks: nothing sent to the
    grid stage before that round is still waiting in a partition's lag."""


def progress(marks: Mapping[int, datetime], partitions: int) -> StreamProgress:
    """The stream's progress from each partition's watermark row (``partition_watermarks``).

    Every partition counts, idle ones too: an idle partition reaches each round of
    watermarks as soon as it is sent, so it never holds the others back, while a partition
    with a backlog reaches it only after the reports sent to it before."""
    wanted = [marks.get(p) for p in range(partitions)]
    if partitions < 1 or any(mark is None for mark in wanted):
        return StreamProgress(None, False)
    present = [mark for mark in wanted if mark is not None]
    return StreamProgress(min(present), min(present) == max(present))


def closes(start: datetime, low: datetime | None, now: datetime) -> bool:
    """Whether the window starting at ``start`` may be scored: every partition has been
    processed past its end plus the grace (never ahead of the clock)."""
    return low is not None and start + WINDOW <= min(low, now) - GRACE


def first_memory() -> dict[str, Any]:
    """Episode memory before any window was scored."""
    return {"windows_closed": 0, "active": [], "clusters": {}}


@dataclass(frozen=True, slots=True)
class WindowScore:
    alerts: list[EarlyAlert]
    baselines: dict[Series, dict[str, Any]]
    """Every series' baseline after learning from the window (``SeriesBaseline.to_dict``)."""
    memory: dict[str, Any]
    """Episode memory after the window, for the next one."""
    lifts: list[tuple[tuple[str, ...], str]]
    """(grid_ids, category) of each cluster raised early in the window, with the grids the
    scan over the whole window joined to it: their cases opened since it was raised are to
    be lifted onto the network as well."""


Raised = tuple[str, Sequence[str], str]
"""(kind, grid_ids, category) of an alert the window has raised already: a row of ``alerts``."""


@dataclass(frozen=True, slots=True)
class WindowInputs:
    """What checking or scoring the window starting at ``start`` reads: its counts (so far,
    or final), the baselines and episode memory its scoring uses, the alerts it has raised
    already and the grids' neighbours."""

    start: datetime
    counts: Mapping[Series, int]
    baselines: Mapping[Series, Mapping[str, Any]]
    memory: Mapping[str, Any]
    raised: Sequence[Raised]
    neighbours: Mapping[str, Sequence[str]]
    config: BaselineConfig = CONFIG


def _detector(inputs: WindowInputs) -> EarlyWarning:
    warning = EarlyWarning(inputs.config, WINDOW, GRACE, UTC_OFFSET)
    warning.restore(
        {
            **inputs.memory,
            "baselines": [[g, c, dict(state)] for (g, c), state in inputs.baselines.items()],
        }
    )
    for kind, grid_ids, category in inputs.raised:
        warning.mark_raised(inputs.start, AlertKind(kind), grid_ids, category)
    return warning


def check_window(inputs: WindowInputs) -> list[EarlyAlert]:
    """The new alerts of the window still counting, from its counts so far. Nothing is
    learnt; the baselines of series without a count may be left out."""
    warning = _detector(inputs)
    start, end = inputs.start, inputs.start + WINDOW
    running = [
        WindowCount(grid, category, start, end, n)
        for (grid, category), n in sorted(inputs.counts.items())
        if n > 0
    ]
    return warning.open_alerts(running, inputs.neighbours)


def score_window(inputs: WindowInputs) -> WindowScore:
    """Score the closed window: every series with a baseline or a count; an alert
    ``check_window`` raised in it (``inputs.raised``) is not alerted again."""
    warning = _detector(inputs)
    start, end = inputs.start, inputs.start + WINDOW
    counts = inputs.counts
    closed = [
        WindowCount(grid, category, start, end, counts.get((grid, category), 0))
        for grid, category in sorted(set(inputs.baselines) | set(counts))
    ]
    alerts = warning.score_window(closed, inputs.neighbours)
    state = warning.to_dict()
    return WindowScore(
        alerts,
        {(g, c): data for g, c, data in state.pop("baselines")},
        state,
        _lifts(inputs.raised, state["clusters"]),
    )


def _lifts(
    raised: Iterable[Raised], clusters: Mapping[str, Sequence[Sequence[str]]]
) -> list[tuple[tuple[str, ...], str]]:
    lifts: list[tuple[tuple[str, ...], str]] = []
    for kind, grid_ids, category in raised:
        if kind != AlertKind.CLUSTER.value:
            continue
        grids = set(grid_ids)
        # the episode memory holds the window's zones, and its early clusters themselves
        for zone in clusters.get(category, ()):
            if grids & set(zone):
                grids |= set(zone)
        lifts.append((tuple(sorted(grids)), category))
    return lifts


def alert_id(alert: EarlyAlert) -> str:
    """Deterministic, so scoring a window again (after a crash) inserts nothing new; a rate
    anomaly has one id per series and window, whether it was raised early or at close."""
    grids = "+".join(sorted(alert.grid_ids))
    return f"{alert.kind.value}:{grids}:{alert.category}:{alert.window_start.isoformat()}"


def outbound(alert: EarlyAlert) -> Alert:
    return Alert(
        kind=alert.kind,
        grid_id=alert.grid_id,
        grid_ids=alert.grid_ids,
        category=alert.category,
        observed=alert.observed,
        expected=alert.expected,
        score=alert.score,
        window=Window(start=alert.window_start, end=alert.window_end),
    )
