"""RESULTS.md and the plots, from one invocation's figures."""

import math
import os
import platform
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on a build machine
import matplotlib.pyplot as plt
from matplotlib.ticker import NullFormatter

from benchmarks.costcurve import CostPoint
from benchmarks.profiles import Profile
from benchmarks.stats import Figure, spread

Series = list[tuple[float, float]]
Percentiles = dict[str, dict[float, dict[str, float]]]  # commit|dispatch -> rate -> q -> ms


@dataclass
class Results:
    mode: str
    figures: list[Figure] = field(default_factory=list)
    series: dict[str, Series] = field(default_factory=dict)  # label -> throughput over time
    latency: dict[str, Percentiles] = field(default_factory=dict)  # per classifier arm
    curves: list[CostPoint] = field(default_factory=list)
    scale_out: dict[str, list[str]] = field(default_factory=dict)  # arm -> each run, described
    profile: Profile | None = None
    notes: list[str] = field(default_factory=list)
    sections: list[list[str]] = field(default_factory=list)  # markdown of other benchmarks


def machine() -> str:
    cpus = len(os.sched_getaffinity(0))
    return f"{platform.machine()}, {cpus} CPU, Python {platform.python_version()}"


def _fmt(figure: Figure) -> str:
    return ",.0f" if figure.value is not None and abs(figure.value) >= 100 else ",.2f"


def table(figures: Sequence[Figure], when: str) -> list[str]:
    lines = [
        "| figure | value: median (min–max, runs) | baseline | ratio | target | met | machine "
        "| date |",
        "|---|---|---|---|---|---|---|---|",
    ]
    host = machine()
    for f in figures:
        fmt = _fmt(f)
        base = f"{f.baseline}: {spread(f.baseline_runs, fmt)}" if f.baseline else ""
        ratio = "" if f.ratio is None else f"{f.ratio:.2f}"
        met = {None: "", True: "yes", False: "**MISSED**"}[f.met]
        lines.append(
            f"| {f.name} ({f.unit}) | {spread(f.runs, fmt)} | {base} | {ratio} | {f.target} "
            f"| {met} | {host} | {when} |"
        )
    return lines


def plot_throughput(series: dict[str, Series], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for label, points in series.items():
        if points:
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, label=label, linewidth=1.2)
    ax.set_xlabel("seconds from the first publish")
    ax.set_ylabel("events/s (0.5 s buckets)")
    ax.set_title("Throughput over time at saturation (first run of each)")
    if any(series.values()):
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_latency(latency: dict[str, Percentiles], path: Path) -> None:
    """Median over runs of each percentile, per offered rate, to commit and to dispatch; one
    line style per classifier arm (their rates differ by two orders: a log axis)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True)
    styles = ("-", "--", ":")
    for ax, what in zip(axes, ("commit", "dispatch"), strict=True):
        rates_seen: set[float] = set()
        for (label, arm), style in zip(latency.items(), styles, strict=False):
            by_rate = arm.get(what, {})
            rates = sorted(by_rate)
            rates_seen.update(rates)
            for q in ("p50", "p95", "p99"):
                values = [by_rate[r].get(q, math.nan) for r in rates]
                if rates:
                    ax.plot(rates, values, marker="o", linestyle=style, label=f"{q}, {label}")
        ax.axhline(250, color="grey", linestyle="--", linewidth=0.8, label="p99 target")
        if rates_seen:
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
            ticks = sorted(rates_seen)
            ax.set_xticks(ticks, [f"{r:,.0f}" for r in ticks])
        ax.set_xlabel("offered rate (events/s)")
        ax.set_title(f"publish -> {'Postgres commit' if what == 'commit' else 'dispatch'}")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("latency (ms)")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _codes(point: CostPoint) -> float:
    return float(point.codes)


def _open_cases(point: CostPoint) -> float:
    return point.open_cases_per_grid


def plot_cost_curves(points: Sequence[CostPoint], path: Path) -> None:
    """Worker CPU per event and RSS against the registry's size and the open cases per grid."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
    panels: tuple[tuple[str, str, Callable[[CostPoint], float]], ...] = (
        ("registry", "codes in the registry (log)", _codes),
        ("cases", "open cases per grid (mean, at the phase's start)", _open_cases),
    )
    for ax, (axis, xlabel, x_of) in zip(axes, panels, strict=True):
        chosen = sorted((p for p in points if p.axis == axis), key=x_of)
        xs = [x_of(p) for p in chosen]
        ax.plot(xs, [p.cpu_us_per_event for p in chosen], marker="o", color="tab:blue")
        ax.set_ylabel("worker CPU per event (µs)", color="tab:blue")
        ax.set_ylim(bottom=0)
        rss = ax.twinx()
        rss.plot(
            xs,
            [p.rss_ready_bytes / 2**20 for p in chosen],
            marker="s",
            color="tab:orange",
            label="RSS when ready",
        )
        rss.plot(
            xs,
            [p.rss_peak_bytes / 2**20 for p in chosen],
            marker="^",
            color="tab:red",
            label="peak RSS after the phase",
        )
        rss.set_ylabel("MiB")
        rss.set_ylim(bottom=0)
        rss.legend(fontsize=8, loc="lower right")
        if axis == "registry" and xs:
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())  # the points are labelled instead
            for p in chosen:
                ax.annotate(
                    p.label,
                    (float(p.codes), p.cpu_us_per_event),
                    fontsize=8,
                    textcoords="offset points",
                    xytext=(4, 6),
                )
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    fig.suptitle("Cost curves (worker with the classifier stubbed)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _curve_section(points: Sequence[CostPoint]) -> list[str]:
    lines = [
        "## Cost curves: worker CPU per event and RSS (classifier stubbed, one pass)",
        "",
        "Each point: a worker with `CIVICGRID_BENCH_CONSTANT_CLASSIFIER`, ready and its state "
        "mirror loaded, a warm-up phase of the city's mix, then the measured phase "
        "(`benchmarks/costcurve.py`). Registry: demo, ten times the demo, Taizhou scale, each "
        "on a fresh broker and database. Open cases: one worker and database on the demo "
        "city, reports sent between phases to fill the case book; the cases are counted in "
        "PostgreSQL when the phase starts.",
        "",
        "| axis | point | codes | grids | open cases/grid (max) | events | CPU µs/event "
        "| RSS ready MiB | peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for p in points:
        lines.append(
            f"| {p.axis} | {p.label} | {p.codes:,} | {p.grids:,} | {p.open_cases_per_grid:.1f} "
            f"({p.max_open_cases}) | {p.events:,} | {p.cpu_us_per_event:,.0f} "
            f"| {p.rss_ready_bytes / 2**20:,.0f} | {p.rss_peak_bytes / 2**20:,.0f} |"
        )
    return [*lines, "", "![cost curves](bench_cost_curves.png)", ""]


def write(results: Results, out_dir: Path, changes: str) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    plot_throughput(results.series, out_dir / "bench_throughput.png")
    plot_latency(results.latency, out_dir / "bench_latency.png")
    if results.curves:
        plot_cost_curves(results.curves, out_dir / "bench_cost_curves.png")
    lines = [
        "# Benchmark results",
        "",
        f"Written by `make bench` ({results.mode} mode) on {when}; {machine()}. Every figure "
        "is the median of its runs with min and max; the baselines ran in the same invocation "
        "against the same embedded Tansu build and PostgreSQL server (a fresh broker for each "
        "pipeline run, same-work peer run and two-worker run, fed that pipeline run's own "
        "records), each with the real classifier and again with it stubbed to a constant. "
        "What each peer does and does not do: docs/performance.md, 'Like with like'. CPU per "
        "event is the process's /proc CPU over the rows: it includes the idle cost per second "
        "(the 'idle CPU' rows), which a slow run spreads over few events.",
        "",
        *(
            ["**Quick mode**: small sizes to check the harness, not figures to quote.", ""]
            if results.mode == "quick"
            else []
        ),
        *table(results.figures, when),
        "",
        "![throughput over time](bench_throughput.png)",
        "",
        "![latency percentiles](bench_latency.png)",
        "",
    ]
    missed = [f for f in results.figures if f.met is False]
    if missed:
        lines += ["## Targets missed", ""]
        lines += [
            f"- {f.name}: {f.value:,.2f} {f.unit}, target {f.target}. {f.note}" for f in missed
        ]
        lines.append("")
    if results.scale_out:
        lines += ["## Two workers of one group, each run", ""]
        for label, described in results.scale_out.items():
            lines += [f"- {label}: {d}" for d in described]
        lines.append("")
    if results.curves:
        lines += _curve_section(results.curves)
    if results.profile is not None:
        lines += _profile_section(results.profile)
    for section in results.sections:
        lines += section
    if results.notes:
        lines += ["## Notes from this run", "", *[f"- {n}" for n in results.notes], ""]
    lines += [changes.strip(), ""]
    path = out_dir / "RESULTS.md"
    kept = kept_sections(path.read_text() if path.exists() else "")
    if kept:
        lines += [*kept, ""]
    path.write_text("\n".join(lines))
    return path


# the sections this writer makes (and the API benchmark's, which it runs); any other `## `
# section of an existing RESULTS.md was added by a benchmark run alone and is kept
_OWN_SECTIONS = (
    "Targets missed",
    "Two workers of one group",
    "Cost curves",
    "Where the worker's time went",
    "HTTP API under load",
    "Notes from this run",
    "What was changed",
)


def kept_sections(old: str) -> list[str]:
    """The `## ` sections of an earlier RESULTS.md that `make bench` does not write (e.g.
    the household reconciliation, run by hand), verbatim, so a full run does not erase them."""
    kept: list[str] = []
    for part in old.split("\n## ")[1:]:
        heading = part.split("\n", 1)[0]
        if not heading.startswith(_OWN_SECTIONS):
            kept.append("## " + part.rstrip("\n"))
    return kept


def _profile_section(profile: Profile) -> list[str]:
    return [
        "## Where the worker's time went at saturation (py-spy, all threads)",
        "",
        f"{profile.samples:,} samples at 200 Hz from a separate, profiled run (not counted "
        "above). Self time, top frames:",
        "",
        "| share | frame |",
        "|---|---|",
        *[f"| {share:.1%} | `{frame}` |" for frame, share in profile.top_self(15)],
        "",
        "civicgrid's own frames, inclusive (the frame and everything it calls):",
        "",
        "| share | frame |",
        "|---|---|",
        *[f"| {share:.1%} | `{frame}` |" for frame, share in profile.top_ours(20)],
        "",
    ]
