"""Plot one injected burst's series with the baseline the detector saw."""

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from matplotlib.figure import Figure

from civicgrid.domain.alerts import Alert, RateAnomaly
from civicgrid.domain.baseline import BaselineConfig, SeriesBaseline
from tools.prediction_eval.synth import Injected, Report

_DAY = timedelta(days=1)


def plot_series(
    reports: Sequence[Report],
    truth: Sequence[Injected],
    alerts: Sequence[tuple[datetime, Alert]],
    config: BaselineConfig,
    start: datetime,
    path: Path,
) -> None:
    per_series = Counter((r.grid_id, r.category) for r in reports)
    # The busiest burst series shows the learnt baseline better than a sparse one.
    burst = max(
        (inj for inj in truth if inj.kind == "burst"),
        key=lambda inj: per_series[(inj.grid_ids[0], inj.category)],
    )
    grid_id, category = burst.grid_ids[0], burst.category
    days = Counter(
        (r.occurred_at - start) // _DAY
        for r in reports
        if r.grid_id == grid_id and r.category == category
    )
    first, last = min(days), max((r.occurred_at - start) // _DAY for r in reports)
    # Replaying the series through a fresh baseline reproduces the detector's
    # state: a series' baseline depends only on its own counts and first window.
    baseline = SeriesBaseline(config, prior_zero_windows=first)
    xs: list[float] = []
    counts: list[int] = []
    expected: list[float] = []
    threshold: list[float] = []
    for day in range(first, last + 1):
        xs.append(float(day))
        counts.append(days.get(day, 0))
        expected.append(baseline.expected() if baseline.warmed_up else float("nan"))
        threshold.append(baseline.threshold() if baseline.warmed_up else float("nan"))
        baseline.update(days.get(day, 0))
    hits = [
        (at, a)
        for at, a in alerts
        if isinstance(a, RateAnomaly) and a.grid_id == grid_id and a.category == category
    ]
    # A bare Figure needs no pyplot backend: the evaluation runs headless.
    fig = Figure(figsize=(10, 4))
    ax = fig.subplots()
    ax.step(xs, counts, where="post", label="daily count", color="black")
    ax.step(xs, expected, where="post", label="expected (EWMA)", color="tab:blue")
    ax.step(xs, threshold, where="post", label="threshold", color="tab:orange", ls="--")
    ax.scatter([(at - start) / _DAY for at, _ in hits], [a.observed for _, a in hits],
               color="red", zorder=3, label="rate anomaly alert, when raised")  # fmt: skip
    ax.axvspan((burst.start - start) / _DAY, (burst.end - start) / _DAY, color="red",
               alpha=0.15, label="injected burst")  # fmt: skip
    ax.set_xlabel(f"local day since {(start + timedelta(hours=8)):%Y-%m-%d}")
    ax.set_title(f"grid {grid_id}, category {category}: daily windows (UTC+8 days)")
    ax.set_ylabel("reports per day")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
