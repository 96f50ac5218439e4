"""RESULTS.md and the plots, from one invocation's figures."""

import math
import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on a build machine
import matplotlib.pyplot as plt

from benchmarks.profiles import Profile
from benchmarks.stats import Figure, spread

Series = list[tuple[float, float]]


@dataclass
class Results:
    mode: str
    figures: list[Figure] = field(default_factory=list)
    series: dict[str, Series] = field(default_factory=dict)  # label -> throughput over time
    latency: dict[str, dict[float, dict[str, float]]] = field(default_factory=dict)
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
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_latency(latency: dict[str, dict[float, dict[str, float]]], path: Path) -> None:
    """Median over runs of each percentile, per offered rate, to commit and to dispatch."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True)
    for ax, what in zip(axes, ("commit", "dispatch"), strict=True):
        by_rate = latency.get(what, {})
        rates = sorted(by_rate)
        for q in ("p50", "p95", "p99"):
            values = [by_rate[r].get(q, math.nan) for r in rates]
            ax.plot(rates, values, marker="o", label=q)
        ax.axhline(250, color="grey", linestyle="--", linewidth=0.8, label="p99 target")
        ax.set_xticks(rates, [f"{r:,.0f}" for r in rates])
        ax.set_xlabel("offered rate (events/s)")
        ax.set_title(f"publish -> {'Postgres commit' if what == 'commit' else 'dispatch'}")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("latency (ms)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(results: Results, out_dir: Path, changes: str) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    plot_throughput(results.series, out_dir / "bench_throughput.png")
    plot_latency(results.latency, out_dir / "bench_latency.png")
    lines = [
        "# Benchmark results",
        "",
        f"Written by `make bench` ({results.mode} mode) on {when}; {machine()}. Every figure "
        "is the median of its runs with min and max; the baselines ran in the same invocation "
        "against the same embedded Tansu build and PostgreSQL server (a fresh broker for each "
        "pipeline run and each same-work peer run, fed that pipeline run's own records). What "
        "each peer does and does not do: docs/performance.md, 'Like with like'.",
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
    if results.profile is not None:
        lines += _profile_section(results.profile)
    for section in results.sections:
        lines += section
    if results.notes:
        lines += ["## Notes from this run", "", *[f"- {n}" for n in results.notes], ""]
    lines += [changes.strip(), ""]
    path = out_dir / "RESULTS.md"
    path.write_text("\n".join(lines))
    return path


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
