"""Working-time arithmetic for SLA deadlines (SPEC §5): weekdays, working hours, holidays."""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from civicgrid.domain.timelimit import LimitUnit, TimeLimit

# A limit far beyond any catalogue entry still ends within this horizon; past it the
# calendar has no working time at all (a misconfiguration), which must not loop forever.
_HORIZON_DAYS = 3660

_SHANGHAI = ZoneInfo("Asia/Shanghai")
_DEFAULT_HOURS = ((time(8, 30), time(12, 0)), (time(13, 30), time(17, 30)))


def _require_aware(*moments: datetime) -> None:
    for moment in moments:
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"naive datetime {moment.isoformat()}: give a timezone")


@dataclass(frozen=True, slots=True)
class WorkingCalendar:
    """Working periods per working day; make-up days work even on a weekend."""

    hours: tuple[tuple[time, time], ...] = _DEFAULT_HOURS
    weekdays: frozenset[int] = frozenset(range(5))  # date.weekday(): Monday is 0
    holidays: frozenset[date] = frozenset()
    make_up_days: frozenset[date] = frozenset()
    zone: ZoneInfo = _SHANGHAI

    def __post_init__(self) -> None:
        for start, end in self.hours:
            if not start < end:
                raise ValueError(f"working period {start}-{end} does not end after it starts")
        if self.holidays & self.make_up_days:
            raise ValueError("a date cannot be both a holiday and a make-up working day")

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "WorkingCalendar":
        """Keys (all optional): timezone, hours [["08:30", "12:00"], ...],
        weekdays [1..7, ISO: Monday is 1], holidays and make_up_days ["YYYY-MM-DD", ...]."""
        default = cls()
        hours = config.get("hours")
        weekdays = config.get("weekdays")
        return cls(
            hours=default.hours
            if hours is None
            else tuple((time.fromisoformat(a), time.fromisoformat(b)) for a, b in hours),
            weekdays=default.weekdays
            if weekdays is None
            else frozenset(int(day) - 1 for day in weekdays),
            holidays=frozenset(date.fromisoformat(d) for d in config.get("holidays", ())),
            make_up_days=frozenset(date.fromisoformat(d) for d in config.get("make_up_days", ())),
            zone=ZoneInfo(str(config.get("timezone", "Asia/Shanghai"))),
        )

    def is_working_day(self, day: date) -> bool:
        if day in self.make_up_days:
            return True
        return day.weekday() in self.weekdays and day not in self.holidays

    @property
    def working_day(self) -> timedelta:
        """One working day of a limit is the length of a day's working periods."""
        return sum(
            (datetime.combine(date.min, b) - datetime.combine(date.min, a) for a, b in self.hours),
            timedelta(),
        )

    def _periods_from(self, moment: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working periods (local, aware) that end after `moment`, in order."""
        local = moment.astimezone(self.zone)
        for offset in range(_HORIZON_DAYS):
            day = local.date() + timedelta(days=offset)
            if not self.is_working_day(day):
                continue
            for start, end in self.hours:
                period_end = datetime.combine(day, end, self.zone)
                if period_end > local:
                    yield max(datetime.combine(day, start, self.zone), local), period_end
        raise ValueError(f"no working time within {_HORIZON_DAYS} days of {moment.isoformat()}")

    def _working_amount(self, limit: TimeLimit) -> timedelta:
        if limit.unit is LimitUnit.WORKING_DAYS:
            return self.working_day * limit.amount
        return timedelta(hours=limit.amount)

    def deadline(self, start: datetime, limit: TimeLimit) -> datetime:
        """When `limit` runs out for a clock started at `start`."""
        _require_aware(start)
        if limit.unit is LimitUnit.HOURS:
            return start + timedelta(hours=limit.amount)
        remaining = self._working_amount(limit)
        if remaining <= timedelta():
            return start
        for begin, end in self._periods_from(start):
            if begin + remaining <= end:
                return begin + remaining
            remaining -= end - begin
        raise AssertionError("unreachable: _periods_from raises when exhausted")

    def working_time(self, start: datetime, end: datetime) -> timedelta:
        """Working time between two moments (zero if `end` is not after `start`)."""
        _require_aware(start, end)
        total = timedelta()
        if end <= start:
            return total
        for begin, period_end in self._periods_from(start):
            if begin >= end:
                break
            total += min(period_end, end) - begin
        return total

    def elapsed_fraction(
        self, start: datetime, deadline: datetime, now: datetime, limit: TimeLimit
    ) -> float:
        """Share of the start-to-deadline window used by `now`; 1.0 and above is a breach."""
        _require_aware(start, deadline, now)
        if limit.unit is LimitUnit.HOURS:
            used, allowed = now - start, deadline - start
        else:
            used, allowed = self.working_time(start, now), self.working_time(start, deadline)
        if allowed <= timedelta():
            return 1.0 if now >= deadline else 0.0
        return max(0.0, used / allowed)
