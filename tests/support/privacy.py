"""Checking answers and rows for personal numbers, without false alarms on our own ids."""

import re

from civicgrid.domain.privacy import contains_personal_numbers

# An event id's groups (8-4-4-4-12 hex) can read as a separated mobile number (1xx-xxxx-xxxx)
# when they happen to be digits; ids are ours, not anybody's number.
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def holds_personal_numbers(text: str) -> bool:
    return contains_personal_numbers(_UUID.sub("<id>", text))
