"""Sending a batch and waiting until the broker has every message: delivery before commit."""

import asyncio
import logging
import os
import random
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

from civicgrid import metrics
from civicgrid.domain.gridwork import Message
from civicgrid.domain.refusals import after_refusal
from civicgrid.errors import Disposition, StopError, classify, reason

log = logging.getLogger(__name__)

T = TypeVar("T")


@contextmanager
def holding(events: Sequence[Any]) -> Iterator[None]:
    """Let a take's offsets be committed only if the block completes.

    Faust acks a `take_events` batch in a `finally`, also when a stop (SIGTERM) cancels the
    agent mid-batch, and commits acked offsets on its way out: a batch waiting out a
    PostgreSQL outage was committed unwritten and lost (issue 16, item 1). One more
    reference on each message, dropped only when the block completes, keeps that ack from
    being the last, so Faust never marks the offsets safe to commit and the next owner of
    the partition reads them again. A failing block keeps the references: nothing of the
    batch is committed by this process, whatever ends it.
    """
    messages = [event.message for event in events]
    for message in messages:
        message.incref()
    yield
    for message in messages:
        message.decref()


def in_batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """`items` in lists of at most `size`, taken lazily: a stage holds one batch at a time."""
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass(frozen=True, slots=True)
class Refused:
    """A message the broker refused for good (`classify`: DEAD_LETTER), and why."""

    message: Message
    error: BaseException


async def send_all(app: Any, messages: Sequence[Message]) -> list[Refused]:
    """Send every message and await every ack before returning, so offsets are acked only
    after delivery; `app.producer.send` skips Faust's per-message codecs and sensors.

    Returns the messages the broker refuses for good (too large, a topic refused), each with
    its error, for the caller to dead-letter; raises any other failure (to wait out or stop).
    """
    sent: list[tuple[Message, Any]] = []
    refused: list[Refused] = []
    for message in messages:
        key = None if message.key is None else message.key.encode()
        try:  # aiokafka refuses a record over its request size here, not in the future
            future = await app.producer.send(
                message.topic, key, message.value, message.partition, None, None
            )
            sent.append((message, future))
        except Exception as error:
            if classify(error) is not Disposition.DEAD_LETTER:
                raise
            refused.append(Refused(message, error))
    results = await asyncio.gather(*(future for _, future in sent), return_exceptions=True)
    for (message, _), result in zip(sent, results, strict=True):
        if isinstance(result, BaseException):
            if not isinstance(result, Exception) or classify(result) is not Disposition.DEAD_LETTER:
                raise result
            refused.append(Refused(message, result))
        else:
            metrics.EVENTS_OUT.labels(topic=message.topic).inc()
    return refused


# a batch record, then its envelopes one per record, then their dead letters, then those
# dead letters with their originals cut to the last resort's few KB
_REFUSAL_ROUNDS = 4


async def deliver_internal(app: Any, messages: Sequence[Message]) -> None:
    """Send internal records; one the broker refuses for good is replaced by its envelopes
    one by one, and an envelope refused alone by its dead letter (`refusals.after_refusal`),
    so the record at fault is accounted for and the rest flows on (issue 16, item 2)."""
    pending: Sequence[Message] = messages
    for _ in range(_REFUSAL_ROUNDS):
        refused = await send_all(app, pending)
        if not refused:
            return
        for refusal in refused:
            log.error(
                "the broker refused an internal record; sending its envelopes apart",
                extra={"error": reason(refusal.error), "bytes": len(refusal.message.value)},
            )
        pending = [m for r in refused for m in after_refusal(r.message, reason(r.error))]
    raise StopError(f"the broker refuses even dead letters: {reason(refused[0].error)}")


async def with_retry(
    what: str,
    attempt: Callable[[], Awaitable[T]],
    on_failure: Callable[[], None] | None = None,
    stalled: set[str] | None = None,
) -> T:
    """Retry a failure `classify` calls RETRY with capped exponential backoff and jitter,
    forever: the stream waits (and so stops consuming) instead of buffering or dropping.
    Any other failure is raised for the caller to dead-letter the record or stop.

    While it waits, `what` is in `stalled` (the runtime's: readiness answers 503 while any
    stage is stalled, whatever the reason, not only while PostgreSQL is down)."""
    delay = 0.2
    while True:
        try:
            result = await attempt()
        except Exception as error:
            if classify(error) is not Disposition.RETRY:
                raise
            if on_failure is not None:
                on_failure()
            if stalled is not None:
                stalled.add(what)
            log.warning("%s failed, retrying", what, extra={"error": repr(error), "delay_s": delay})
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 15.0)
        else:
            if stalled is not None:
                stalled.discard(what)
            return result


def fail_stop(where: str) -> NoReturn:
    """Stop the worker on an error this code cannot handle, before the batch is acked.

    Faust acks a `take_events` batch in a `finally` when the agent's loop raises, so an
    escaping exception would drop the batch while the worker lives on without that agent.
    Exiting at once leaves the offsets uncommitted: the batch goes to a surviving or
    restarted worker, and the supervisor (compose, systemd) sees the crash.
    """
    log.critical("unrecoverable error in %s; the worker stops without acking", where, exc_info=True)
    logging.shutdown()
    os._exit(70)  # EX_SOFTWARE
