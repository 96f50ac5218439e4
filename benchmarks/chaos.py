"""`make chaos`: the fault scenarios at full size; writes benchmarks/results/chaos.md.

Run: .venv/bin/python -m benchmarks.chaos [--events N] [--kills K] [--postgres-down S]

One 50,000-event simulated stream, played once without faults (the reference) and once per
scenario: the worker SIGKILLed at random moments 10 times, PostgreSQL stopped for 30 s
mid-stream, two workers with one SIGKILLed. The scenarios are civicgrid/faults.py, the same
code the short tests in tests/reliability run. Exits 1 when any scenario fails.
"""

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from civicgrid.faults import (
    Fault,
    Outcome,
    Plan,
    Say,
    Stream,
    Tally,
    groups_differing,
    reference_run,
    run_scenario,
)

RESULTS = Path(__file__).resolve().parent / "results" / "chaos.md"


def say(started: float) -> Say:
    def show(message: str) -> None:
        print(f"[{time.monotonic() - started:6.1f} s] {message}", file=sys.stderr, flush=True)

    return show


async def main(plan: Plan, work: Path) -> tuple[Tally, list[Outcome]]:
    show = say(time.monotonic())
    show(f"generating a {plan.events:,}-event stream")
    stream = Stream.make(plan)
    reference = await reference_run(stream, plan, work, show)
    # a second fault-free run: how far two runs differ by arrival order alone
    again = await reference_run(stream, plan, work, show, "reference-again")
    outcomes = []
    for fault in Fault:
        outcome = await run_scenario(fault, plan, work, show, stream, reference)
        verdict = "PASS" if outcome.passed else "FAIL " + "; ".join(outcome.problems())
        show(f"{fault.value}: {verdict}")
        outcomes.append(outcome)
    return again, outcomes


def table(plan: Plan, again: Tally, outcomes: list[Outcome]) -> str:
    reference = outcomes[0].reference
    lines = [
        "# Chaos results",
        "",
        f"Written by `make chaos` (`python -m benchmarks.chaos`) on "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; stream of {plan.events:,} simulated inbound "
        f"records (seed {plan.seed}), embedded Tansu and PostgreSQL, 4 partitions. "
        "Scenarios and checks: civicgrid/faults.py; design: docs/reliability.md.",
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
        "- **case states = reference**: the reports held in cases, per grid and category, "
        "equal to the reference run's (order-independent; docs/reliability.md says why);",
        "- **cases regrouped**: cases whose (grid, category, state, level, reports) has no "
        "match in the reference run: arrival-order effects, which a second fault-free run "
        "shows too;",
        "- **workers up**: worker processes alive with /health/ready 200 at the end.",
        "",
        "| scenario | events in | rows | lost | duplicated | redelivered | resends flagged "
        "| dead letters | cases | case states = reference | cases regrouped | workers up "
        "| result | time |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|---|---:|",
        _row("reference (no faults)", reference, "-", 0, "1/1", "-", 0.0),
        _row(
            "reference again (no faults)",
            again,
            "yes" if again.case_reports == reference.case_reports else "NO",
            groups_differing(reference, again),
            "1/1",
            "-",
            0.0,
        ),
    ]
    for o in outcomes:
        lines.append(
            _row(
                o.fault.value,
                o.faulted,
                "yes" if o.states_equal else "NO",
                o.groups_differing,
                f"{o.workers_up}/{o.workers_expected}",
                "PASS" if o.passed else "FAIL",
                o.seconds,
            )
        )
    lines += ["", "Notes:", ""]
    lines.append(f"- worker-kills: {plan.kills} SIGKILLs at random moments, restarted at once.")
    lines.append(f"- postgres-down: PostgreSQL stopped for {plan.postgres_down_s:.0f} s.")
    for o in outcomes:
        lines += [f"- {o.fault.value}: {note}" for note in o.notes]
        lines += [f"- {o.fault.value} problem: {p}" for p in o.problems()]
    return "\n".join(lines) + "\n"


def _row(
    name: str, t: Tally, states: str, groups: int, workers: str, result: str, seconds: float
) -> str:
    return (
        f"| {name} | {t.published:,} | {t.event_rows:,} | {t.lost} | {t.double_effects} "
        f"| {t.redelivered} | {t.resends} | {t.dead_letters} | {t.cases:,} | {states} "
        f"| {groups} | {workers} | {result} | {seconds:.0f} s |"
    )


def cli() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--postgres-down", type=float, default=30.0)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    plan = Plan(events=args.events, kills=args.kills, postgres_down_s=args.postgres_down)
    with tempfile.TemporaryDirectory(prefix="civicgrid-chaos-") as work:
        again, outcomes = asyncio.run(main(plan, Path(work)))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(table(plan, again, outcomes))
    print(f"wrote {args.output}", file=sys.stderr)
    return 0 if all(o.passed for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(cli())
