"""Sending a batch and waiting until the broker has every message: delivery before commit."""

import asyncio
import logging
import os
import random
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn, TypeVar

from civicgrid import metrics
from civicgrid.domain.gridwork import Message
from civicgrid.errors import Disposition, classify

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


async def send_all(app: Any, messages: Sequence[Message]) -> None:
    """`app.producer.send` skips Faust's per-message codecs and sensors; every future is
    awaited before the caller returns, so offsets are acked only after delivery."""
    futures = [
        await app.producer.send(
            message.topic,
            None if message.key is None else message.key.encode(),
            message.value,
            message.partition,
            None,
            None,
        )
        for message in messages
    ]
    if futures:
        await asyncio.gather(*futures)
    for message in messages:
        metrics.EVENTS_OUT.labels(topic=message.topic).inc()


async def with_retry(
    what: str,
    attempt: Callable[[], Awaitable[T]],
    on_failure: Callable[[], None] | None = None,
) -> T:
    """Retry a failure `classify` calls RETRY with capped exponential backoff and jitter,
    forever: the stream waits (and so stops consuming) instead of buffering or dropping.
    Any other failure is raised for the caller to dead-letter the record or stop."""
    delay = 0.2
    while True:
        try:
            return await attempt()
        except Exception as error:
            if classify(error) is not Disposition.RETRY:
                raise
            if on_failure is not None:
                on_failure()
            log.warning("%s failed, retrying", what, extra={"error": repr(error), "delay_s": delay})
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 15.0)


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
