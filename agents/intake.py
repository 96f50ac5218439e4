"""Intake: every inbound record parsed once, masked, enriched, placed, and routed by grid."""

import logging
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

from civicgrid import metrics
from civicgrid.agents.delivery import deliver_internal, fail_stop, holding, in_batches, with_retry
from civicgrid.domain.gridwork import Message, by_grid_messages
from civicgrid.domain.householdflow import PersonItem, by_person_messages, route_household
from civicgrid.domain.routing import RawRecord, dead_letter, published_at, route
from civicgrid.logs import correlation
from civicgrid.runtime import Runtime
from civicgrid.schemas.enums import DeadLetterKind
from civicgrid.schemas.internal import GridEnvelope
from civicgrid.topics import catalogue as topics

log = logging.getLogger(__name__)

# The intake's stream buffer counts fetches (`FetchedRecords`), each up to a partition's
# fetch size (1 MB): Faust's default of 16,384 buffered items would let a stalled intake
# hold gigabytes. Past 4/5 of this Faust pauses the partitions until the intake catches up.
FETCHES_BUFFERED = 64


def raw_record(record: Any) -> RawRecord:
    """An aiokafka `ConsumerRecord` (its timestamp in milliseconds) as the pure core's record."""
    headers = tuple((str(k), v) for k, v in (record.headers or ()))
    return RawRecord(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        timestamp=published_at(record.timestamp),
        key=record.key,
        value=record.value,
        headers=headers,
    )


def envelope_for(record: RawRecord, runtime: Runtime, received_at: datetime) -> GridEnvelope:
    try:
        return route(record, runtime.city, runtime.hasher, received_at, runtime.limits)
    except Exception as error:  # a bug must cost one dead letter, not the worker
        # The event is not parsed, so its event_id is unknown: the record's place in the
        # log names it (the dead letter carries the same topic, partition and offset).
        # Only this path logs, so the hot path pays nothing for the context.
        with correlation(f"{record.topic}:{record.partition}:{record.offset}"):
            log.exception("intake failed on a record", extra={"topic": record.topic})
        return dead_letter(
            record, DeadLetterKind.PROCESSING_ERROR, f"intake: {error!r}", runtime.hasher
        )


_HOUSEHOLD_TOPICS = frozenset(spec.name for spec in topics.household_topics())


def household_item(
    record: RawRecord, runtime: Runtime, received_at: datetime
) -> PersonItem | GridEnvelope:
    try:
        return route_household(record, runtime.hasher, received_at, runtime.limits)
    except Exception as error:  # as envelope_for: a bug costs one dead letter
        with correlation(f"{record.topic}:{record.partition}:{record.offset}"):
            log.exception("intake failed on a record", extra={"topic": record.topic})
        return dead_letter(
            record, DeadLetterKind.PROCESSING_ERROR, f"intake: {error!r}", runtime.hasher
        )


def route_all(fetched: Sequence[Any], runtime: Runtime) -> list[Message]:
    """Events by grid; household records (issue 21) by person, their dead letters by grid
    like every other (the grid stage writes dead letters)."""
    records = [raw_record(record) for record in fetched]
    for topic, count in Counter(record.topic for record in records).items():
        metrics.EVENTS_IN.labels(topic=topic).inc(count)
    received_at = datetime.now(UTC)
    envelopes: list[GridEnvelope] = []
    persons: list[PersonItem] = []
    for record in records:
        if record.topic in _HOUSEHOLD_TOPICS:
            item = household_item(record, runtime, received_at)
            if isinstance(item, GridEnvelope):
                envelopes.append(item)
            else:
                persons.append(item)
        else:
            envelopes.append(envelope_for(record, runtime, received_at))
    return by_grid_messages(envelopes) + by_person_messages(persons)


def register(app: Any, runtime: Runtime) -> None:
    settings = runtime.settings
    names = tuple(spec.name for spec in (*topics.inbound_events(), *topics.household_topics()))
    app.batched_topics = app.batched_topics | frozenset(names)
    inbound = app.topic(
        *names, key_serializer="raw", value_serializer="raw", maxsize=FETCHES_BUFFERED
    )

    @app.agent(inbound, name="civicgrid.intake")
    async def intake(stream: Any) -> None:
        await runtime.ready.wait()
        async for events in stream.take_events(settings.batch_size, within=settings.batch_seconds):
            # each event is one partition's fetch (`FetchedRecords`); behind a backlog a take
            # holds many, so they are routed and sent `batch_size` records at a time
            fetched = (record for event in events for record in event.message.value)
            with holding(events):
                try:
                    for records in in_batches(fetched, settings.batch_size):
                        messages = route_all(records, runtime)
                        await with_retry(
                            "intake",
                            partial(deliver_internal, app, messages),
                            stalled=runtime.stalled,
                        )
                except Exception:
                    fail_stop("intake")
