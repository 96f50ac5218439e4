"""The Faust app, configured for the ground it runs on (../shared/GROUND.md)."""

from typing import Any

import faust
from faust.transport.drivers import aiokafka as aiokafka_driver

from civicgrid.settings import Settings


class _ConsumerThread(aiokafka_driver.AIOKafkaConsumerThread):
    """Faust hard-codes a 1,500 ms fetch wait; Tansu answers a waiting fetch only when the
    wait runs out, so that figure became our latency. The wait is the app's setting here."""

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = getattr(self.app, "fetch_max_wait_ms", 10)
        return consumer


class _Consumer(aiokafka_driver.Consumer):
    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _Transport(aiokafka_driver.Transport):
    Consumer = _Consumer


class CivicApp(faust.App):
    fetch_max_wait_ms: int

    def _new_transport(self) -> Any:
        return _Transport(self.conf.broker_consumer, self)


def create_app(settings: Settings, bootstrap: str) -> CivicApp:
    app = CivicApp(
        settings.app_id,
        broker=f"kafka://{bootstrap}",
        store="memory://",
        autodiscover=False,
        topic_partitions=settings.partitions,
        topic_replication_factor=1,
        topic_allow_declare=True,
        # Tansu joins a group in half the session timeout and rejoins in ~1.8x it
        broker_session_timeout=6,
        broker_heartbeat_interval=1,
        broker_rebalance_timeout=6,
        broker_request_timeout=30,
        broker_max_poll_records=5000,
        broker_commit_interval=1.0,
        consumer_auto_offset_reset="earliest",
        producer_linger_ms=5,
        producer_max_batch_size=262144,
        producer_acks=-1,
        stream_buffer_maxsize=16384,
        stream_wait_empty=False,
        table_standby_replicas=0,
        web_enabled=True,
        web_port=settings.web_port,
        web_bind=settings.web_host,
        web_host=settings.web_host,
        web_in_thread=False,
    )
    app.fetch_max_wait_ms = settings.fetch_max_wait_ms
    return app
