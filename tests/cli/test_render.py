"""How the operator commands print times and SLA timers: the city's zone, named once above a
table, and a timer overdue because no worker fired it said as such."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from civicgrid.cli.cases import parse_moment
from civicgrid.cli.render import sla_status, table

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)  # 16:00 in Shanghai
GRACE = timedelta(minutes=1)


def test_a_table_of_times_shows_them_in_the_zone_it_names_once() -> None:
    printed = table(
        ("case", "deadline", "late"),
        [("A", datetime(2026, 12, 4, 3, 1, tzinfo=UTC), "-"), ("B", None, "-")],
        SHANGHAI,
        NOW,
    ).splitlines()
    assert printed[0] == "times in Asia/Shanghai (UTC+08:00)"
    assert printed[2].split() == ["A", "2026-12-04", "11:01", "-"]
    assert printed[3].split() == ["B", "-", "-"]
    # a zone with summer time names the offset of the moment shown
    summer = datetime(2026, 7, 1, tzinfo=UTC)
    header = table(("at",), [(summer,)], ZoneInfo("Europe/Berlin"), summer).splitlines()[0]
    assert header == "times in Europe/Berlin (UTC+02:00)"
    assert "times in" not in table(("n",), [(1,)], SHANGHAI, NOW)


def test_a_timer_past_due_says_no_worker_fired_it() -> None:
    deadline = NOW - timedelta(hours=1)
    warning = NOW - timedelta(hours=3, minutes=7)
    overdue = sla_status("none", deadline, warning, NOW, SHANGHAI, GRACE)
    assert "OVERDUE: the 80 % warning timer was due at 2026-12-04 12:53 (3h07m ago)" in overdue
    assert "no worker is running" in overdue
    breach = sla_status("warned", deadline, deadline, NOW, SHANGHAI, GRACE)
    assert breach.startswith("80 % warning fired; OVERDUE: the breach timer")
    # a running worker fires a due timer within its SLA check: not yet a stalled timer
    due = sla_status("none", deadline, NOW - timedelta(seconds=30), NOW, SHANGHAI, GRACE)
    assert "OVERDUE" not in due
    assert sla_status("breached", deadline, None, NOW, SHANGHAI, GRACE) == "breach fired (100 %)"


def test_a_moment_without_an_offset_is_local_time() -> None:
    assert parse_moment("2026-12-04T16:00", SHANGHAI) == NOW
    assert parse_moment("2026-12-04T08:00+00:00", SHANGHAI) == NOW
    assert parse_moment(None, SHANGHAI) is None
