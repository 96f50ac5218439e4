"""``python -m civicgrid.prediction_eval``: score the early-warning core on simulated months.

Each seed simulates the demo city (36 grids): four clean weeks of history the
baselines learn from, then a scored month, once with injected anomalies and once
without. Writes benchmarks/results/prediction.md and prediction_series.png.
"""

import argparse
from datetime import datetime, timedelta
from pathlib import Path

from civicgrid.city.generate import generate_city
from civicgrid.city.model import City
from civicgrid.domain.baseline import BaselineConfig
from civicgrid.prediction_eval import simulated
from civicgrid.prediction_eval.plot import plot_series
from civicgrid.prediction_eval.score import KINDS, Scores, alert_key, detect
from civicgrid.prediction_eval.synth import EVAL_START, REPORTS_PER_GRID_DAY, synth

HISTORY_DAYS, DAYS = 28, 30
WINDOW, GRACE = timedelta(days=1), timedelta(hours=1)
# min_expected 0.25: most grid x category series see a report every few days; a floor of 1
# put the bar at 8 reports, above a whole simulated burst once the classifier split it.
# cluster_z = z: the scan tries many neighbourhoods per window (3.5 gave 3.7 false
# clusters per 1,000 grid-days on an anomaly-free simulator month, 4.0 none).
CONFIG = BaselineConfig(
    alpha=0.1, z=4.0, cluster_z=4.0, min_expected=0.25, min_sigma=1.0, warmup=7, seasons=1
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    city = generate_city("demo")
    neighbours = {g.grid_id: g.neighbours for g in city.grids}
    scored_from = EVAL_START + timedelta(days=HISTORY_DAYS)
    anomalous, clean = Scores(), Scores()
    clean_alerts: dict[str, int] = {}
    example = None
    for seed in range(args.seeds):
        for with_anomalies, scores in ((True, anomalous), (False, clean)):
            reports, truth = synth(city.grids, seed, EVAL_START, HISTORY_DAYS, DAYS, with_anomalies)
            alerts = [
                (at, a)
                for at, a in detect(reports, neighbours, CONFIG, WINDOW, GRACE)
                if a.window_end > scored_from
            ]
            scores.add(alerts, truth)
            if not with_anomalies:
                for _, a in alerts:
                    clean_alerts[alert_key(a)] = clean_alerts.get(alert_key(a), 0) + 1
            elif example is None:
                example = (reports, truth, alerts)
    grid_days = len(city.grids) * DAYS * args.seeds
    args.out.mkdir(parents=True, exist_ok=True)
    assert example is not None
    plot_series(*example, CONFIG, EVAL_START, args.out / "prediction_series.png")
    text = _report(anomalous, clean_alerts, grid_days, args.seeds, len(city.grids))
    text += _simulator_report(city, scored_from)
    (args.out / "prediction.md").write_text(text, encoding="utf-8")
    print(text)


def _report(s: Scores, clean_alerts: dict[str, int], grid_days: int, seeds: int, grids: int) -> str:
    window_h = WINDOW / timedelta(hours=1)
    statistical = clean_alerts.get("rate_anomaly", 0) + clean_alerts.get("cluster", 0)
    location_rate = 1000 * clean_alerts.get("repeat_point:location", 0) / grid_days
    lines = [
        "# Early warning: evaluation on simulated months",
        "",
        f"Demo city, {grids} grids, {REPORTS_PER_GRID_DAY:g} background reports per grid-day "
        f"over 31 categories; {seeds} seeds x ({HISTORY_DAYS} clean history days + {DAYS} "
        f"scored days), with and without injected anomalies (8 of each kind per month).",
        f"Windows: {window_h:g} h, grace {GRACE / timedelta(hours=1):g} h. Baseline: {CONFIG}.",
        "Delay = event time the alert is emitted (window end + grace; repeat points at the "
        "triggering report) minus anomaly onset (repeat points: the 3rd report).",
        "",
        "| kind | injected | detected | recall | alert precision | median delay (h) |",
        "|---|---|---|---|---|---|",
    ]
    precision_kind = {"burst": "rate_anomaly", "cluster": "cluster", "repeat": "repeat_point:code"}
    for kind in KINDS:
        lines.append(
            f"| {kind} | {s.injected[kind]} | {s.found[kind]} | {s.recall(kind):.1%} "
            f"| {s.precision(precision_kind[kind]):.1%} | {s.median_delay_h(kind):.1f} |"
        )
    rate_cluster = sum(s.alerts.get(k, 0) for k in ("rate_anomaly", "cluster"))
    statistical_precision = (
        sum(s.true_alerts.get(k, 0) for k in ("rate_anomaly", "cluster")) / rate_cluster
        if rate_cluster
        else 1.0
    )
    overall_recall = sum(s.found.values()) / max(1, sum(s.injected.values()))
    lines += [
        "",
        f"Overall recall {overall_recall:.1%}; precision of rate + cluster alerts "
        f"{statistical_precision:.1%}; alerts by kind {dict(sorted(s.alerts.items()))}, "
        f"of which explained by an injected anomaly {dict(sorted(s.true_alerts.items()))}.",
        "",
        f"Anomaly-free months: {grid_days} grid-days, alerts by kind "
        f"{dict(sorted(clean_alerts.items()))}; statistical false alerts (rate + cluster) "
        f"{1000 * statistical / grid_days:.2f} per 1,000 grid-days.",
        "Repeat points by location (3+ same-category reports within 250 m in 7 days) are "
        "genuine rule hits that happen by chance in busy categories at this density: the "
        f"location rule fired {location_rate:.0f} times per 1,000 grid-days on clean data. "
        "They are reported here, not counted as statistical false alerts; repeat precision "
        "above is that of the same-code rule (synthetic background reports carry no code).",
        "",
        "![one series](prediction_series.png)",
        "",
    ]
    return "\n".join(lines)


def _simulator_report(city: City, scored_from: datetime) -> str:
    """One month of the city simulator through the stream's own code (see ``simulated``)."""
    run = simulated.run(city, 0, EVAL_START, HISTORY_DAYS, DAYS, with_anomalies=True)
    scores = Scores()
    scores.add([(at, a) for at, a in run.alerts if a.window_end > scored_from], run.truth)
    lines = [
        "## The city simulator through the stream's code",
        "",
        f"One seed, {HISTORY_DAYS} + {DAYS} days, {run.reports} reports "
        f"({REPORTS_PER_GRID_DAY:g} background reports per grid-day); simulator reports go "
        "through intake routing, the classifier, the case book and the stream's window scoring "
        "(civicgrid/prediction_eval/simulated.py). Anomalies: plan_anomalies, one of each kind "
        f"every {simulated.ROUND_DAYS} days, each one day long. Repeat alerts come from the case "
        "book (3 reports joined to one open case in 7 days).",
        "",
        "| kind | injected | detected | recall | median delay (h) |",
        "|---|---|---|---|---|",
    ]
    for kind in KINDS:
        lines.append(
            f"| {kind} | {scores.injected[kind]} | {scores.found[kind]} "
            f"| {scores.recall(kind):.1%} | {scores.median_delay_h(kind):.1f} |"
        )
    lines += [
        "",
        f"Alerts by kind {dict(sorted(scores.alerts.items()))}, explained by an injected "
        f"anomaly {dict(sorted(scores.true_alerts.items()))}.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
