"""Lag per owned partition, and no stale series once a rebalance takes a partition away."""

from prometheus_client import CollectorRegistry, Gauge

from civicgrid.agents.lag import LagGauge, partition_lags, watched_topics
from civicgrid.topics import catalogue as topics

REPORTS = topics.REPORTS.name
BY_GRID = topics.BY_GRID.name


def test_lag_is_highwater_minus_committed() -> None:
    lags = partition_lags(
        {(REPORTS, 0): 120, (REPORTS, 1): 40, (BY_GRID, 2): 7, (BY_GRID, 3): None},
        {(REPORTS, 0): 100, (REPORTS, 1): 45},
    )
    # Nothing committed yet: all of it is lag. No fetch answered yet: no figure at all.
    # A commit ahead of the last high-water mark seen is no lag, not negative lag.
    assert lags == {(REPORTS, 0): 20, (REPORTS, 1): 0, (BY_GRID, 2): 7}


def test_watched_topics_are_the_inbound_and_grid_stage_topics() -> None:
    inbound = {spec.name for spec in (*topics.inbound_events(), *topics.household_topics())}
    assert watched_topics() == inbound | {BY_GRID, topics.BY_PERSON.name}


def test_series_of_partitions_no_longer_owned_are_removed() -> None:
    registry = CollectorRegistry()
    gauge = Gauge("lag_messages", "lag", ["topic", "partition"], registry=registry)
    lag = LagGauge(gauge)
    lag.report({(REPORTS, 0): 5, (REPORTS, 1): 3})
    lag.report({(REPORTS, 1): 2, (BY_GRID, 0): 9})  # after a rebalance

    def value(topic: str, partition: str) -> float | None:
        return registry.get_sample_value("lag_messages", {"topic": topic, "partition": partition})

    assert value(REPORTS, "0") is None
    assert value(REPORTS, "1") == 2
    assert value(BY_GRID, "0") == 9
