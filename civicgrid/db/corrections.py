"""Operators' corrections of the classifier as PostgreSQL holds them (migration 0014)."""

from dataclasses import dataclass
from datetime import datetime

import asyncpg


@dataclass(frozen=True, slots=True)
class StoredCorrection:
    event_id: str  # the reclassify update's
    case_id: str
    report_event_id: str  # the case's first report, whose text this is
    text: str  # masked, as stored in events
    from_category: str
    to_category: str
    from_severity: str
    to_severity: str
    corrected_at: datetime


async def stored_corrections(connection: asyncpg.Connection) -> list[StoredCorrection]:
    """Every correction with its report's text, oldest first (a text-less row, whose report
    PostgreSQL did not hold, teaches nothing and is left out)."""
    rows = await connection.fetch(
        """SELECT event_id::text, case_id, report_event_id::text, report_text, from_category,
                  to_category, from_severity, to_severity, corrected_at
           FROM classification_corrections WHERE report_text IS NOT NULL
           ORDER BY corrected_at, event_id"""
    )
    return [StoredCorrection(*row) for row in rows]
