"""Consumer lag of this worker's partitions: high-water mark minus committed offset.

The high-water mark comes from the consumer's last fetch responses (aiokafka's
`highwater(tp)`), not from ListOffsets: on Tansu, ListOffsets answers the base offset of
the last batch + 1 (GROUND.md), while the fetch-response figure is right on Tansu and Kafka
alike, and reading it costs no request.
"""

from collections.abc import Mapping
from typing import Any

from faust.exceptions import ConsumerNotStarted
from prometheus_client import Gauge

from civicgrid import metrics
from civicgrid.runtime import Runtime
from civicgrid.topics import catalogue as topics

# Short enough that a dashboard at a 15 s scrape never shows a stale figure, long enough to
# cost nothing: one pass reads in-memory offsets of a handful of partitions.
INTERVAL_SECONDS = 2.0

Partition = tuple[str, int]


def watched_topics() -> frozenset[str]:
    """The topics whose lag means work not done: the inbound ones (the household topics
    too) and the grid and household stages'."""
    inbound = (*topics.inbound_events(), *topics.household_topics())
    return frozenset(spec.name for spec in inbound) | {topics.BY_GRID.name, topics.BY_PERSON.name}


def partition_lags(
    highwaters: Mapping[Partition, int | None], committed: Mapping[Partition, int | None]
) -> dict[Partition, int]:
    """Lag of every assigned partition (the keys of `highwaters`) whose high-water mark the
    consumer has seen.

    A partition with no fetch response yet has no high-water mark and is left out rather
    than reported as 0. No committed offset means none yet (Faust also records a commit
    at offset 0 as none): the group starts from the earliest offset, which is 0 while the
    broker enforces no retention. Lag never goes negative: a commit can land between
    fetches, ahead of the last high-water mark seen.
    """
    return {
        partition: max(highwater - (committed.get(partition) or 0), 0)
        for partition, highwater in highwaters.items()
        if highwater is not None
    }


class LagGauge:
    """Sets one series per owned partition and removes the series of partitions the worker
    no longer owns, so a rebalance leaves no stale lag behind on this worker."""

    def __init__(self, gauge: Gauge) -> None:
        self.gauge = gauge
        self.reported: set[Partition] = set()

    def report(self, lags: Mapping[Partition, int]) -> None:
        for topic, partition in self.reported - lags.keys():
            self.gauge.remove(topic, str(partition))
        for (topic, partition), lag in lags.items():
            self.gauge.labels(topic=topic, partition=str(partition)).set(lag)
        self.reported = set(lags)


def register(app: Any, runtime: Runtime) -> LagGauge:
    watched = watched_topics()
    lag_gauge = LagGauge(metrics.CONSUMER_LAG)

    @app.timer(interval=INTERVAL_SECONDS)
    async def consumer_lag() -> None:
        # Before the registry is loaded the agents hold no partitions; during a rebalance
        # the assignment is in flux and the next pass after it reports the new one.
        if not runtime.ready.is_set() or app.rebalancing:
            return
        consumer = app.consumer
        try:
            assignment = consumer.assignment()
        except ConsumerNotStarted:  # an exception would stop the timer for good
            return
        owned = [tp for tp in assignment if tp.topic in watched]
        highwaters = {(tp.topic, tp.partition): consumer.highwater(tp) for tp in owned}
        # Faust keeps the offsets it committed per partition; it has no public accessor,
        # and asking the broker (OffsetFetch) instead would cost a request every pass.
        committed = {(tp.topic, tp.partition): consumer._committed_offset.get(tp) for tp in owned}
        lag_gauge.report(partition_lags(highwaters, committed))

    return lag_gauge
