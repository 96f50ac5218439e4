"""What a worker holds for its lifetime: the pool, the city, the core's fixed parts."""

import asyncio
import logging
import os
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import orjson

from civicgrid.db.pool import create_pool
from civicgrid.domain.cityview import CityView
from civicgrid.domain.classifier import (
    Classifier,
    ConstantClassifier,
    load_head,
    packaged_head,
)
from civicgrid.domain.embedding import E5Encoder, limit_blas_threads
from civicgrid.domain.gridwork import GridWork
from civicgrid.domain.privacy import KeyedHasher
from civicgrid.domain.taxonomy import Taxonomy
from civicgrid.domain.workcalendar import WorkingCalendar
from civicgrid.kafka_connection import KafkaConnection
from civicgrid.registry_follower import RegistryFollower, city_appliers
from civicgrid.settings import Settings
from civicgrid.state_mirror import StateMirror

log = logging.getLogger(__name__)


def pseudonym_key(settings: Settings) -> bytes:
    """The keyed-hash key: from settings, or generated once and kept under the data dir."""
    if settings.pseudonym_key:
        return settings.pseudonym_key.encode()
    path = settings.data_dir / "pseudonym.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def working_calendar(settings: Settings) -> WorkingCalendar:
    """The calendar file's, in its own zone if it names one, else in the city's."""
    config = {"timezone": settings.city_timezone}
    if settings.calendar_file is not None:
        config |= orjson.loads(Path(settings.calendar_file).read_bytes())
    return WorkingCalendar.from_config(config)


def classifier(settings: Settings, taxonomy: Taxonomy) -> Classifier:
    """The worker's classifier: the model file from settings (or the packaged one) and the
    default encoder, its OpenMP threads set before the engine starts: the event loop and the
    broker client share the machine's cores with it."""
    os.environ["OMP_NUM_THREADS"] = str(settings.encoder_omp_threads)
    # numpy's own BLAS: its products (the nearest-example search) are small, and OpenBLAS's
    # threads only spun against the encoder and the loop (embedding.limit_blas_threads)
    log.info("numpy BLAS threads: %s -> 1", limit_blas_threads(1))
    head = (
        packaged_head()
        if settings.classifier_model is None
        else load_head(settings.classifier_model)
    )
    log.info("classifier head %s", head.version)
    if settings.bench_constant_classifier:
        log.warning("benchmark switch: constant classifier, reports are not classified")
        return ConstantClassifier(head, taxonomy)
    return Classifier(head, taxonomy, E5Encoder(cache_size=settings.encoder_cache))


@dataclass
class Runtime:
    settings: Settings
    kafka: KafkaConnection
    database_url: str
    city: CityView = field(default_factory=CityView)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    sink_up: bool = False
    stopping: bool = False  # set first thing in stop(): what fails after it is not data's fault
    # stages waiting out a failure (`agents.delivery.with_retry`): not ready meanwhile
    stalled: set[str] = field(default_factory=set)
    pool: asyncpg.Pool | None = None
    follower: RegistryFollower | None = None
    mirror: StateMirror | None = None

    def __post_init__(self) -> None:
        taxonomy = Taxonomy.load(self.settings.taxonomy_overrides)
        self.hasher = KeyedHasher(pseudonym_key(self.settings))
        self.limits = self.settings.limits()
        self.calendar = working_calendar(self.settings)
        self.work = GridWork(classifier(self.settings, taxonomy), taxonomy, self.hasher)
        # The encoder releases the GIL: threads keep the event loop free while it runs.
        self.encoding = ThreadPoolExecutor(
            max_workers=self.settings.encoder_threads, thread_name_prefix="encoder"
        )

    async def start(self) -> None:
        self.pool = await create_pool(
            self.database_url,
            min_size=self.settings.database_pool_min_size,
            max_size=self.settings.database_pool_max_size,
        )
        self.sink_up = True
        self.follower = RegistryFollower(
            self.kafka, city_appliers(self.city), self.limits, self._city_counts
        )
        await self.follower.start()
        await self.follower.caught_up.wait()
        self.ready.set()
        # after readiness: the mirror's first load must not delay the worker's start
        self.mirror = StateMirror(self.kafka, self.pool)
        await self.mirror.start(self.follower)

    def _city_counts(self) -> dict[str, int]:
        grids, codes = self.city.grid_counts()
        return {"grids": grids, "codes": codes, "actors": len(self.city.actors)}

    async def stop(self) -> None:
        self.stopping = True
        self.encoding.shutdown(wait=False, cancel_futures=True)
        if self.follower is not None:
            await self.follower.stop()
        if self.mirror is not None:
            await self.mirror.stop()
        if self.pool is not None:
            await self.pool.close()
