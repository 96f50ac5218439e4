"""The baselines, each a process of its own like the worker: read reports from `source`,
decode them, forward them to `sink`, until stopped.

    python -m benchmarks.forwarders aiokafka|faust|quix BOOTSTRAP SOURCE SINK
"""

import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from civicgrid.domain.classifier import Classifier
from civicgrid.kafka_clients import producer as kafka_producer
from schemas.inbound import Report

if TYPE_CHECKING:  # faust is imported only by the process that runs the Faust forwarder
    from civicgrid.app import CivicApp

BATCH = 1000


def forward(value: bytes) -> bytes:
    """Decode with the pipeline's own model and encode again: the least any stage does."""
    return Report.model_validate_json(value).model_dump_json().encode()


async def aiokafka_loop(bootstrap: str, source: str, sink: str) -> None:
    """(1) The floor: a plain consume -> pydantic -> produce loop, no framework."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=bootstrap,
        group_id=f"bench-aiokafka-{source}",
        auto_offset_reset="earliest",
        fetch_max_wait_ms=10,  # Tansu answers a waiting fetch only when the wait runs out
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    producer = kafka_producer(bootstrap, linger_ms=5)
    await consumer.start()
    await producer.start()
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=100, max_records=5000)
            futures = [
                await producer.send(sink, forward(m.value or b""), key=m.key)
                for messages in batches.values()
                for m in messages
            ]
            if futures:
                await asyncio.gather(*futures)
    finally:
        await consumer.stop()
        await producer.stop()


def faust_forwarder(bootstrap: str, source: str, sink: str) -> None:
    """(2) One Faust agent with the worker's own app settings (civicgrid/app.py), batches of
    BATCH, pydantic decode and Faust's ordinary `topic.send`."""
    from civicgrid.app import create_app
    from civicgrid.embedded.process import free_port
    from civicgrid.settings import Settings

    with tempfile.TemporaryDirectory(prefix="bench-faust") as data_dir:
        settings = Settings(
            app_id=f"bench-faust-{source}", web_port=free_port(), data_dir=Path(data_dir)
        )
        _run_faust(create_app(settings, bootstrap), source, sink, settings.batch_seconds)


def _run_faust(app: "CivicApp", source: str, sink: str, within: float) -> None:
    import faust

    inbound = app.topic(source, key_serializer="raw", value_serializer="raw")
    outbound = app.topic(sink, key_serializer="raw", value_serializer="raw")

    @app.agent(inbound)
    async def forwarder(stream: Any) -> None:
        async for events in stream.take_events(BATCH, within=within):
            for event in events:
                await outbound.send(key=event.message.key, value=forward(event.message.value))

    worker = faust.Worker(
        app, loglevel="WARNING", override_logging=False, redirect_stdouts=False, quiet=True
    )
    worker.execute_from_commandline()


def quix_forwarder(bootstrap: str, source: str, sink: str) -> None:
    """(3) The peer: Quix Streams decoding, classifying and forwarding the same reports."""
    from quixstreams import Application

    classifier = Classifier.default()

    def classify(value: bytes) -> bytes:
        report = Report.model_validate_json(value)
        verdict = classifier.classify(report.description, category_hint=report.category_hint)
        return orjson.dumps(
            {
                "event_id": str(report.event_id),
                "category": verdict.category,
                "severity": verdict.severity.value,
            }
        )

    with tempfile.TemporaryDirectory(prefix="bench-quix") as state_dir:
        app = Application(
            broker_address=bootstrap,
            consumer_group=f"bench-quix-{source}",
            auto_offset_reset="earliest",
            state_dir=state_dir,
            consumer_extra_config={"fetch.wait.max.ms": 10},
            producer_extra_config={"linger.ms": 5},
            loglevel="WARNING",
        )
        inbound = app.topic(source, value_deserializer="bytes", key_deserializer="bytes")
        outbound = app.topic(sink, value_serializer="bytes", key_serializer="bytes")
        # Quix keeps the input's timestamp on the output; the harness times the forward itself
        app.dataframe(inbound).apply(classify).set_timestamp(
            lambda value, key, timestamp, headers: time.time_ns() // 1_000_000
        ).to_topic(outbound)
        app.run()


def main(argv: list[str]) -> None:
    kind, bootstrap, source, sink = argv
    if kind == "aiokafka":
        asyncio.run(aiokafka_loop(bootstrap, source, sink))
    elif kind == "faust":
        faust_forwarder(bootstrap, source, sink)
    elif kind == "quix":
        quix_forwarder(bootstrap, source, sink)
    else:
        raise SystemExit(f"unknown forwarder {kind!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
