"""A plain progress line on stderr: no dependency, and quiet enough for a log file."""

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, label: str, total: int | None = None, stream: TextIO = sys.stderr) -> None:
        self.label, self.total, self.stream = label, total, stream
        self.done = 0
        self._started = self._shown = time.monotonic()
        # A terminal gets one line redrawn in place; a log file a new line now and then.
        self._tty = stream.isatty()
        self._every_s = 0.2 if self._tty else 5.0

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if now - self._shown >= self._every_s:
            self._shown = now
            self._show(now)

    def close(self) -> None:
        self._show(time.monotonic())
        if self._tty:
            self.stream.write("\n")
        self.stream.flush()

    def _show(self, now: float) -> None:
        rate = self.done / max(now - self._started, 1e-9)
        if self.total:
            filled = int(30 * self.done / self.total)
            bar = "#" * filled + "." * (30 - filled)
            line = f"{self.label} [{bar}] {self.done:,}/{self.total:,} {rate:,.0f}/s"
        else:
            line = f"{self.label} {self.done:,} sent {rate:,.0f}/s"
        self.stream.write(f"\r{line}" if self._tty else f"{line}\n")
        self.stream.flush()
