"""Inbound event values as upstream apps publish them (SPEC §2)."""

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

TAIZHOU = timezone(timedelta(hours=8))


def report(code: str | None, description: str, **fields: Any) -> dict[str, Any]:
    """A resident's scan report of `code`; `fields` add or override SPEC fields."""
    return {
        "event_id": str(uuid.uuid4()),
        "occurred_at": datetime.now(TAIZHOU).isoformat(),
        "schema_version": 1,
        "channel": "scan",
        "description": description,
        "reporter_id": "R-13800001111",
        "reporter_role": "resident",
        **({"code": code} if code else {}),
        **fields,
    }
