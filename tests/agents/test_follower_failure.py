"""A failure of the registry follower's reading is logged, makes it unhealthy (the worker's
readiness 503) and is retried; it never ends the task silently, as an assert once did.

The consumer here is a stand-in that fails its first polls: what a broker or client fault
does to `getmany`. Records and their validation are proven through a real broker in
tests/integration/test_edge_limits.py."""

import asyncio
import logging
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import KafkaConnectionError

from civicgrid import registry_follower
from civicgrid.kafka_connection import KafkaConnection
from civicgrid.registry_follower import RegistryFollower


class FailingConsumer:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.polls = 0

    async def getmany(self, **_: Any) -> dict[TopicPartition, list[Any]]:
        self.polls += 1
        if self.polls <= self.failures:
            raise KafkaConnectionError("broker gone")
        await asyncio.sleep(0.01)
        return {}

    def highwater(self, tp: TopicPartition) -> int:
        return 0


def test_a_failing_follower_is_unhealthy_logged_and_retried(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry_follower, "_RETRY_FIRST_S", 0.05)
    follower = RegistryFollower(KafkaConnection.plaintext("unused:9092"), {})
    consumer = FailingConsumer(failures=2)
    follower._consumer = consumer  # type: ignore[assignment]
    health: list[bool] = []

    async def run() -> None:
        task = asyncio.create_task(follower._follow([]))
        for _ in range(40):
            await asyncio.sleep(0.01)
            health.append(follower.healthy)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    with caplog.at_level(logging.WARNING, logger="civicgrid.registry_follower"):
        asyncio.run(run())
    assert False in health  # not ready while it failed
    assert health[-1] is True  # and ready again once it reads
    assert consumer.polls > 3
    failures = [r for r in caplog.records if r.getMessage().startswith("registry follower failed")]
    assert len(failures) == 2
    assert failures[0].exc_info is not None
    assert any(r.getMessage() == "registry follower reads again" for r in caplog.records)
