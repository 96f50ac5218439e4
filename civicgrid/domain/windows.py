"""Tumbling event-time windows counting events per (grid_id, category) series.

Windows are aligned to local midnight of a fixed UTC offset (China: +08:00), so a
daily window is a local calendar day. A window closes once the watermark -- the
latest event time seen minus the grace period -- reaches its end; an event for
a window already closed is too late and is counted in ``late_events`` instead.
The oldest window not yet closed can be read while it is still counting (``open_counts``).
"""

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

Series = tuple[str, str]
"""(grid_id, category)"""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class WindowCount:
    """One series' count in one window: final once the window has closed, so far before."""

    grid_id: str
    category: str
    window_start: datetime
    window_end: datetime
    count: int


class WindowCounter:
    def __init__(
        self,
        size: timedelta,
        grace: timedelta = timedelta(0),
        utc_offset: timedelta = timedelta(hours=8),
    ) -> None:
        if size <= timedelta(0) or grace < timedelta(0):
            raise ValueError("window size must be positive and grace non-negative")
        self.size = size
        self.grace = grace
        self.utc_offset = utc_offset
        self.late_events = 0
        self._counts: dict[datetime, dict[Series, int]] = defaultdict(dict)
        self._known: set[Series] = set()
        self._cursor: datetime | None = None  # start of the oldest window not yet closed
        self._closed_any = False
        self._max_seen: datetime | None = None

    def window_start(self, at: datetime) -> datetime:
        if at.tzinfo is None:
            raise ValueError("event times must carry a UTC offset")
        origin = _EPOCH - self.utc_offset
        return origin + ((at - origin) // self.size) * self.size

    @property
    def watermark(self) -> datetime | None:
        return None if self._max_seen is None else self._max_seen - self.grace

    @property
    def known_series(self) -> frozenset[Series]:
        """Series that have had at least one event in a closed window."""
        return frozenset(self._known)

    def add(self, grid_id: str, category: str, occurred_at: datetime) -> None:
        start = self.window_start(occurred_at)
        if self._cursor is not None and start < self._cursor:
            if self._closed_any:
                self.late_events += 1
                return
            self._cursor = start
        elif self._cursor is None:
            self._cursor = start
        series = (grid_id, category)
        bucket = self._counts[start]
        bucket[series] = bucket.get(series, 0) + 1
        if self._max_seen is None or occurred_at > self._max_seen:
            self._max_seen = occurred_at

    def open_counts(self, categories: Collection[str] | None = None) -> list[WindowCount]:
        """The counts so far of the oldest window not yet closed, series with events only,
        of ``categories`` (default: all)."""
        if self._cursor is None:
            return []
        start, end = self._cursor, self._cursor + self.size
        return [
            WindowCount(grid, category, start, end, n)
            for (grid, category), n in sorted(self._counts.get(start, {}).items())
            if categories is None or category in categories
        ]

    def close_until(self, watermark: datetime | None = None) -> list[WindowCount]:
        """Close every window ending at or before ``watermark`` (default: ours).

        Each closed window yields one count per known series, zeros included,
        oldest window first; a series becomes known in the window of its first
        event and never gets zeros for windows before it.
        """
        limit = self.watermark if watermark is None else watermark
        closed: list[WindowCount] = []
        if limit is None or self._cursor is None:
            return closed
        while self._cursor + self.size <= limit:
            start, end = self._cursor, self._cursor + self.size
            bucket = self._counts.pop(start, {})
            self._known.update(bucket)
            closed.extend(
                WindowCount(grid, category, start, end, bucket.get((grid, category), 0))
                for grid, category in sorted(self._known)
            )
            self._cursor = end
            self._closed_any = True
        return closed
