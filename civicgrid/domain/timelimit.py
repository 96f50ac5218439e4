"""Time limits of categories (SPEC §3): wall-clock hours, working hours or working days."""

import re
from dataclasses import dataclass
from enum import StrEnum


class LimitUnit(StrEnum):
    HOURS = "hours"
    WORKING_HOURS = "working_hours"
    WORKING_DAYS = "working_days"


_PATTERN = re.compile(
    r"^\s*(?P<amount>\d+(?:\.\d+)?)\s*(?P<unit>h|hours?|working\s+hours?|working\s+days?)\s*$"
)


@dataclass(frozen=True, slots=True)
class TimeLimit:
    amount: float
    unit: LimitUnit

    @classmethod
    def parse(cls, text: str) -> "TimeLimit":
        """Parse the SPEC's notation: "2 h", "4 working hours", "1 working day"."""
        match = _PATTERN.match(text)
        if match is None:
            raise ValueError(
                f"time limit {text!r} is not of the form '2 h', '4 working hours' "
                "or '1 working day'"
            )
        unit_text = match["unit"]
        if unit_text.startswith("working") and "day" in unit_text:
            unit = LimitUnit.WORKING_DAYS
        elif unit_text.startswith("working"):
            unit = LimitUnit.WORKING_HOURS
        else:
            unit = LimitUnit.HOURS
        return cls(float(match["amount"]), unit)

    def __str__(self) -> str:
        amount = f"{self.amount:g}"
        return {
            LimitUnit.HOURS: f"{amount} h",
            LimitUnit.WORKING_HOURS: f"{amount} working hours",
            LimitUnit.WORKING_DAYS: f"{amount} working days",
        }[self.unit]
