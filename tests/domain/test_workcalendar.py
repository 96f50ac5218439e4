from datetime import UTC, date, datetime, timedelta

import pytest

from civicgrid.domain.timelimit import TimeLimit
from civicgrid.domain.workcalendar import WorkingCalendar

CAL = WorkingCalendar()
TZ = CAL.zone


def at(day: int, hour: int, minute: int = 0, month: int = 9) -> datetime:
    return datetime(2025, month, day, hour, minute, tzinfo=TZ)


def test_wall_clock_hours_ignore_the_calendar() -> None:
    saturday = at(27, 23)
    assert CAL.deadline(saturday, TimeLimit.parse("2 h")) == at(28, 1)


def test_working_hours_skip_lunch_and_night() -> None:
    assert CAL.deadline(at(22, 11), TimeLimit.parse("2 working hours")) == at(22, 14, 30)
    assert CAL.deadline(at(22, 17), TimeLimit.parse("1 working hours")) == at(23, 9)
    assert CAL.deadline(at(22, 12, 30), TimeLimit.parse("1 working hours")) == at(22, 14, 30)


def test_one_working_day_is_the_days_working_hours() -> None:
    assert CAL.working_day == timedelta(hours=7, minutes=30)
    assert CAL.deadline(at(22, 10), TimeLimit.parse("1 working day")) == at(23, 10)
    friday = at(26, 10)
    assert CAL.deadline(friday, TimeLimit.parse("1 working day")) == at(29, 10)


def test_holidays_and_make_up_days() -> None:
    cal = WorkingCalendar.from_config(
        {
            "holidays": [f"2025-10-0{d}" for d in range(1, 9)],
            "make_up_days": ["2025-09-28", "2025-10-11"],
        }
    )
    assert not cal.is_working_day(date(2025, 10, 1))
    assert cal.is_working_day(date(2025, 9, 28))  # a Sunday worked to make up
    # Friday 26 Sep 10:00 + 1 working day lands on the make-up Sunday.
    assert cal.deadline(at(26, 10), TimeLimit.parse("1 working day")) == at(28, 10)
    # Tuesday 30 Sep 10:00 + 1 working day jumps the National Day week.
    assert cal.deadline(at(30, 10), TimeLimit.parse("1 working day")) == at(9, 10, month=10)


def test_from_config_hours_and_weekdays() -> None:
    cal = WorkingCalendar.from_config(
        {"hours": [["09:00", "17:00"]], "weekdays": [1, 2, 3, 4, 5, 6], "timezone": "UTC"}
    )
    saturday = datetime(2025, 9, 27, 16, tzinfo=cal.zone)
    assert cal.deadline(saturday, TimeLimit.parse("2 working hours")) == datetime(
        2025, 9, 29, 10, tzinfo=cal.zone
    )


def test_elapsed_fraction_in_working_time() -> None:
    limit = TimeLimit.parse("1 working day")
    start = at(26, 10)  # Friday
    deadline = CAL.deadline(start, limit)
    # Friday 10:00-12:00 and 13:30-17:30 count, the weekend does not.
    assert CAL.elapsed_fraction(start, deadline, at(27, 12), limit) == pytest.approx(6 / 7.5)
    assert CAL.elapsed_fraction(start, deadline, deadline, limit) == pytest.approx(1.0)
    assert CAL.elapsed_fraction(start, deadline, at(30, 10), limit) > 1.0
    wall = TimeLimit.parse("2 h")
    assert CAL.elapsed_fraction(at(27, 8), at(27, 10), at(27, 9, 36), wall) == pytest.approx(0.8)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        CAL.deadline(datetime(2025, 9, 22, 10), TimeLimit.parse("2 h"))


def test_other_offsets_are_converted() -> None:
    utc_start = datetime(2025, 9, 22, 2, tzinfo=UTC)  # 10:00 in Shanghai
    assert CAL.deadline(utc_start, TimeLimit.parse("2 working hours")) == at(22, 12)
