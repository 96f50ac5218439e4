"""`make chaos`: the fault scenarios at full size; writes benchmarks/results/chaos.md.

Run: .venv/bin/python -m benchmarks.chaos [--events N] [--kills K] [--postgres-down S]
[--hot-reports R] [--drain S] [--only SCENARIO,...]

One 50,000-event simulated stream, played twice without faults (the reference) and once per
scenario: the worker SIGKILLed at random moments 10 times; PostgreSQL stopped for 30 s
mid-stream; two workers with one SIGKILLed; the worker SIGTERMed while it waits out a
PostgreSQL outage; every backend of the worker killed every 100 ms in 10 storms; three
poison pills in mid-stream (a 900 KB value, a NUL in a photo URL, a report dated 1900);
2,000 reports on one code in one burst with the worker SIGKILLed in it (compared with two
fault-free runs of that stream). The scenarios are tools/faults.py, the same code the
short tests in tests/reliability run. Exits 1 when any scenario fails.
"""

import argparse
import asyncio
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from tools.faults import (
    CaseComparison,
    Fault,
    Outcome,
    Plan,
    Say,
    Stream,
    Tally,
    reference_runs,
    run_scenario,
)

RESULTS = Path(__file__).resolve().parent / "results" / "chaos.md"


def say(started: float) -> Say:
    def show(message: str) -> None:
        print(f"[{time.monotonic() - started:6.1f} s] {message}", file=sys.stderr, flush=True)

    return show


async def main(plan: Plan, work: Path, faults: list[Fault], output: Path) -> list[Outcome]:
    show = say(time.monotonic())
    show(f"generating a {plan.events:,}-event stream")
    stream = Stream.make(plan)
    # two fault-free runs: they differ in fetch timing only, so their cases must be equal
    reference = await reference_runs(stream, plan, work, show)
    show(f"reference again: {reference.baseline.describe()}")
    outcomes = []
    for fault in faults:
        outcome = await run_scenario(fault, plan, work, show, stream, reference)
        verdict = "PASS" if outcome.passed else "FAIL " + "; ".join(outcome.problems())
        show(f"{fault.value}: {outcome.cases.describe()}; {verdict}")
        outcomes.append(outcome)
        # written after every scenario: a long run stopped midway still leaves its results
        await asyncio.to_thread(output.write_text, table(plan, outcomes))
    return outcomes


def table(plan: Plan, outcomes: list[Outcome]) -> str:
    # the hot point is compared with runs of its own stream; the rows are the common one's
    reference = next(
        (o.reference for o in outcomes if o.fault is not Fault.HOT_POINT), outcomes[0].reference
    )
    lines = [
        "# Chaos results",
        "",
        f"Written by `make chaos` (`python -m benchmarks.chaos`) on "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; stream of {plan.events:,} simulated inbound "
        f"records (seed {plan.seed}), embedded Tansu and PostgreSQL, 4 partitions. "
        "Scenarios and checks: tools/faults.py; design: docs/reliability.md.",
        "",
        "- **events in**: records published and acked by the broker (the stream includes "
        "the simulator's app resends, the same event id twice);",
        "- **rows**: rows in `events` (one per distinct event id);",
        "- **lost**: published offsets found in none of `events`, `duplicate_deliveries`, "
        "`dead_letters`;",
        "- **duplicated**: event ids whose effect was applied twice (an event in two "
        "cases, or twice in one); the `events` primary key rules out a second row;",
        "- **redelivered**: records delivered again after a fault and recognised by event "
        "id (at-least-once delivery absorbed; `duplicate_deliveries` with the row's offset);",
        "- **reports = ref**: the reports held in cases, per grid and category, equal to "
        "the reference run's;",
        "- cases are matched with the reference run's by the set of event ids each holds "
        "(case ids are per-grid sequence numbers and differ by arrival order; "
        "docs/reliability.md says why): **same** holds the same reports with the same state, "
        "level, category, severity, duplicate count, network flag and escalation reasons; "
        "**other content** holds the same reports with any of these different; "
        "**regrouped** are cases whose reports are grouped otherwise (reference's + this "
        "run's);",
        "- **result**: PASS when nothing is lost or applied twice, counts equal the "
        "reference's, every case holds the same reports with the same content as in the "
        "reference (none with other content, none regrouped), and the worker is up; the "
        "second fault-free run must equal the first in the same way, since a case's content "
        "does not depend on arrival order;",
        "- **workers up**: worker processes alive with /health/ready 200 at the end.",
        "",
        f"This run: `python -m benchmarks.chaos {' '.join(sys.argv[1:])}`; load average "
        f"(1/5/15 min) when written: {' / '.join(f'{x:.1f}' for x in os.getloadavg())} on "
        f"{os.cpu_count()} cores (above the core count, other work shared the machine and "
        "the times say little).",
        "",
        "| scenario | events in | rows | lost | duplicated | redelivered | resends flagged "
        "| dead letters | cases | reports = ref | same | other content | regrouped "
        "| workers up | result | time |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---|---|---:|",
        _row("reference (no faults)", reference.tally, "-", None, "1/1", "-", 0.0),
        _row(
            "reference again (no faults)",
            reference.again,
            "yes" if reference.again.case_reports == reference.tally.case_reports else "NO",
            reference.baseline,
            "1/1",
            "PASS"
            if not (reference.baseline.differing or reference.baseline.regrouped)
            else "FAIL",
            0.0,
        ),
    ]
    for o in outcomes:
        lines.append(
            _row(
                o.fault.value,
                o.faulted,
                "yes" if o.reports_equal else "NO",
                o.cases,
                f"{o.workers_up}/{o.workers_expected}",
                "PASS" if o.passed else "FAIL",
                o.seconds,
            )
        )
    lines += ["", "Notes:", ""]
    lines.append(f"- worker-kills: {plan.kills} SIGKILLs at random moments, restarted at once.")
    lines.append(f"- postgres-down: PostgreSQL stopped for {plan.postgres_down_s:.0f} s.")
    lines.append(
        "- sigterm-in-outage: PostgreSQL stopped, the worker SIGTERMed while it waits, then "
        "PostgreSQL and the worker started again."
    )
    lines.append(
        f"- connection-kills: after each of {plan.kills} slices, every backend of the worker "
        f"killed every 100 ms for {plan.storm_s:.1f} s (pg_terminate_backend)."
    )
    lines.append(
        "- poison-pills: three more records in mid-stream (a 900 KB value, a NUL in a photo "
        "URL, a report dated 1900); PASS needs each as a dead letter and nothing else changed "
        "(dead letters = reference + 3)."
    )
    lines.append(
        f"- hot-point: {plan.hot_reports:,} reports on one code in one burst in mid-stream, "
        "the worker SIGKILLed in it; its input differs, so it is compared with two fault-free "
        "runs of its own stream (not the reference rows above)."
    )
    lines += [f"- reference again, other content: {e}" for e in reference.baseline.examples]
    for o in outcomes:
        lines += [f"- {o.fault.value}: {note}" for note in o.notes]
        lines += [f"- {o.fault.value} problem: {p}" for p in o.problems()]
    return "\n".join(lines) + "\n"


def _row(
    name: str,
    t: Tally,
    reports: str,
    cases: CaseComparison | None,
    workers: str,
    result: str,
    seconds: float,
) -> str:
    compared = (
        "- | - | -"
        if cases is None
        else f"{cases.same:,} | {cases.differing} | {cases.only_first}+{cases.only_second}"
    )
    return (
        f"| {name} | {t.published:,} | {t.event_rows:,} | {t.lost} | {t.double_effects} "
        f"| {t.redelivered} | {t.resends} | {t.dead_letters} | {t.cases:,} | {reports} "
        f"| {compared} | {workers} | {result} | {seconds:.0f} s |"
    )


def cli() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--postgres-down", type=float, default=30.0)
    parser.add_argument("--hot-reports", type=int, default=2000)
    parser.add_argument(
        "--drain",
        type=float,
        default=900.0,
        help="longest wait, after the last record is published, for every offset to be "
        "accounted (a busy machine needs more)",
    )
    parser.add_argument(
        "--only", default=",".join(Fault), help="comma-separated scenarios (default: all)"
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    plan = Plan(
        events=args.events,
        kills=args.kills,
        postgres_down_s=args.postgres_down,
        hot_reports=args.hot_reports,
        drain_s=args.drain,
    )
    faults = [Fault(name.strip()) for name in args.only.split(",")]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="civicgrid-chaos-") as work:
        outcomes = asyncio.run(main(plan, Path(work), faults, args.output))
    print(f"wrote {args.output}", file=sys.stderr)
    return 0 if all(o.passed for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(cli())
