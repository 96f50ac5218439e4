"""The one producer civicgrid's tools (demo, city load, simulator, ticks, faults, benchmarks)
publish with; the worker itself sends through Faust's producer (civicgrid/app.py)."""

from typing import Any

from aiokafka import AIOKafkaProducer

from civicgrid.kafka_connection import Brokers, connection


def producer(kafka: Brokers, *, linger_ms: int = 20, **options: Any) -> AIOKafkaProducer:
    """acks from all in-sync replicas, 256 KiB batches, and no idempotence: the embedded
    broker rejects the InitProducerId request it needs (../shared/GROUND.md)."""
    return AIOKafkaProducer(
        **connection(kafka).client_options(),
        linger_ms=linger_ms,
        max_batch_size=262_144,
        acks="all",
        enable_idempotence=False,
        **options,
    )
