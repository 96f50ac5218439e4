"""Logging: JSON lines or readable text, a correlation id per event, personal numbers masked.

Every record passes two handler-level filters before it is formatted: one stamps the
correlation id of the event being processed (from a contextvar, so concurrent tasks keep
their own), the other masks ID-card and mobile numbers. The masking is the last line of
defence: the domain masks free text before it is stored, but a log line may still carry
raw input (a validation error quoting the payload, a debug dump).
"""

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Literal

import orjson

from civicgrid.domain.privacy import mask_text

_correlation_id: ContextVar[str | None] = ContextVar("civicgrid_correlation_id", default=None)

# Per-message debug calls in these libraries' send and fetch paths cost measurable
# throughput (GROUND.md), so they stay at WARNING whatever the service's own level.
_NOISY_LOGGERS = ("aiokafka", "faust", "mode")

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_RECORD_ATTRIBUTES = frozenset(
    logging.LogRecord("", logging.INFO, "", 0, "", None, None).__dict__
) | {"message", "asctime", "correlation_id"}


def current_correlation_id() -> str | None:
    """The correlation id of the event this task is handling, if any."""
    return _correlation_id.get()


@contextmanager
def correlation(correlation_id: str) -> Iterator[str]:
    """Tag every log record written inside the block (by this task) with `correlation_id`.

    Use the event's `event_id`, so a line can be traced to the message and the case.
    """
    token = _correlation_id.set(correlation_id)
    try:
        yield correlation_id
    finally:
        _correlation_id.reset(token)


class CorrelationFilter(logging.Filter):
    """Stamp `correlation_id` on records that do not carry one through `extra=`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "correlation_id", None) is None:
            record.correlation_id = _correlation_id.get()
        return True


class MaskPersonalDataFilter(logging.Filter):
    """Mask ID-card and mobile numbers in the message, the traceback and string extras."""

    def filter(self, record: logging.LogRecord) -> bool:
        # Merge the arguments first: a number may arrive as a %s argument.
        record.msg = mask_text(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            # Formatters reuse a cached exc_text, so masking it here covers every handler.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        for key, value in _extras(record).items():
            if isinstance(value, str):
                setattr(record, key, mask_text(value))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, correlation_id, extras, exc."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        correlation_id = getattr(record, "correlation_id", None)
        if correlation_id is not None:
            entry["correlation_id"] = correlation_id
        entry.update(_extras(record))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        # default=str: an extra such as a datetime or UUID must never break a log line.
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    """`time LEVEL logger [correlation id] message key=value ...` for people at a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (stdlib name)
        line = super().formatMessage(record)
        correlation_id = getattr(record, "correlation_id", None)
        if correlation_id is not None:
            line = f"{line} [{correlation_id}]"
        extras = " ".join(f"{key}={value}" for key, value in _extras(record).items())
        return f"{line} {extras}" if extras else line


def configure_logging(fmt: Literal["text", "json"], level: str) -> None:
    """Send all logging to stderr in `fmt`; safe to call again (replaces the handler)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    # Filters on the handler, not on the root logger: logger filters do not see records
    # propagated from child loggers, handler filters see every record written.
    handler.addFilter(CorrelationFilter())
    handler.addFilter(MaskPersonalDataFilter())
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level.upper())
    quiet = max(logging.WARNING, root.level)
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(quiet)


def _extras(record: logging.LogRecord) -> dict[str, object]:
    return {
        key: value
        for key, value in record.__dict__.items()
        if key not in _RECORD_ATTRIBUTES and not key.startswith("_")
    }
