"""The one settings class: every knob is a `CIVICGRID_` environment variable."""

from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from civicgrid.errors import StopError
from civicgrid.kafka_connection import KafkaConfigError, KafkaConnection
from civicgrid.schemas.limits import VALUE_BYTES_CEILING, VERTICES_CEILING, Limits


class Settings(BaseSettings):
    """Defaults run the embedded stack; set the broker and database URL for production."""

    model_config = SettingsConfigDict(env_prefix="CIVICGRID_", frozen=True, extra="forbid")

    kafka_broker: str | None = Field(
        default=None, description="host:port of a Kafka broker; unset starts an embedded Tansu"
    )
    # How to reach a secured cluster: civicgrid/kafka_connection.py checks the combination.
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", description="how clients talk to the brokers"
    )
    kafka_ssl_ca_file: Path | None = Field(
        default=None,
        description="PEM CA bundle the brokers' certificates chain to; unset: system's",
    )
    kafka_ssl_cert_file: Path | None = Field(
        default=None, description="PEM client certificate, for brokers that require one (mTLS)"
    )
    kafka_ssl_key_file: Path | None = Field(
        default=None, description="PEM private key of the client certificate"
    )
    kafka_ssl_key_password: SecretStr | None = Field(
        default=None, description="password of an encrypted client key"
    )
    kafka_ssl_check_hostname: bool = Field(
        default=True, description="check that a broker's certificate names the host dialled"
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        default=None, description="SASL mechanism (with SASL_PLAINTEXT or SASL_SSL)"
    )
    kafka_sasl_username: str | None = Field(default=None, description="SASL user name")
    kafka_sasl_password: SecretStr | None = Field(default=None, description="SASL password")
    kafka_tansu: bool = Field(
        default=False,
        description="the broker is a Tansu (as the embedded one): its client tuning, 1 replica",
    )
    kafka_replication_factor: int | None = Field(
        default=None,
        ge=1,
        le=32,
        description="replicas of the topics civicgrid creates; unset: 1 on Tansu, else 3",
    )
    kafka_min_insync_replicas: int | None = Field(
        default=None,
        ge=1,
        le=32,
        description="min.insync.replicas of those topics; unset: 1 on Tansu, else 2",
    )
    database_url: str | None = Field(
        default=None, description="PostgreSQL URL; unset starts an embedded PostgreSQL"
    )
    database_pool_min_size: int = Field(
        default=1, ge=0, le=100, description="PostgreSQL connections a process keeps open"
    )
    database_pool_max_size: int = Field(
        default=4, ge=1, le=100, description="PostgreSQL connections a process opens at most"
    )
    app_id: str = Field(default="civicgrid", description="Faust app id and consumer group")
    partitions: int = Field(default=4, ge=1, le=256, description="partitions of new topics")
    data_dir: Path = Field(
        default=Path(".data"), description="embedded PostgreSQL data, Faust tables, the hash key"
    )
    web_port: int = Field(
        default=6066, ge=0, le=65535, description="HTTP port of /metrics and /health; 0 = free"
    )
    web_host: str = Field(default="127.0.0.1", description="address the HTTP server binds")
    log_format: Literal["text", "json"] = Field(default="text", description="log output format")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO")
    pseudonym_key: str | None = Field(
        default=None,
        description="key of the keyed hashes of reporter/worker ids; unset: kept under data_dir",
    )
    batch_size: int = Field(default=5000, ge=1, le=50_000, description="events per sink batch")
    batch_seconds: float = Field(
        default=0.02, gt=0, le=10, description="longest wait to fill a batch"
    )
    household_max_delay_seconds: float = Field(
        default=300.0,
        gt=0,
        le=86_400,
        description="longest a touched person waits for the household reconciliation (issue 21)",
    )
    household_quiet_seconds: float = Field(
        default=2.0,
        gt=0,
        le=3600,
        description="the household stage reconciles once its input is this quiet",
    )
    fetch_max_wait_ms: int | None = Field(
        default=None,
        ge=1,
        le=5000,
        description="consumer fetch wait (Faust hard-codes 1500); unset: 10 on Tansu, else 500",
    )
    taxonomy_overrides: Path | None = Field(
        default=None, description="JSON file overriding category severity, owners and limits"
    )
    classifier_model: Path | None = Field(
        default=None,
        description="model file of the classifier head (.npz); unset: the packaged one",
    )
    bench_constant_classifier: bool = Field(
        default=False,
        description="BENCHMARK ONLY: one fixed category for every report, no encoder "
        "(benchmarks/ sets it to price the classifier); never in production",
    )
    producer_max_request_bytes: int = Field(
        default=1_000_000,
        ge=16 * 1024,
        le=100 * 1024 * 1024,
        description="largest record the worker sends (the producer's max_request_size); keep it "
        "at or under the broker's message.max.bytes; a record over it is dead-lettered",
    )
    encoder_threads: int = Field(
        default=1, ge=1, le=16, description="threads encoding report texts off the event loop"
    )
    encoder_omp_threads: int = Field(
        default=1, ge=1, le=16, description="OpenMP threads of each encoding (OMP_NUM_THREADS)"
    )
    encoder_cache: int = Field(
        default=8192, ge=0, le=1_000_000, description="report texts whose vectors are kept"
    )
    calendar_file: Path | None = Field(
        default=None, description="JSON file with the city's holidays and make-up working days"
    )
    city_timezone: str = Field(
        default="Asia/Shanghai",
        description="IANA zone of the city: the working calendar's and every time shown",
    )
    sla_check_seconds: float = Field(
        default=30.0, gt=0, description="how often deadlines are checked"
    )
    prediction_check_seconds: float = Field(
        default=60.0, gt=0, description="how often closed event-time windows are scored"
    )
    stop_timeout_seconds: float = Field(
        # inside compose's 30 s stop_grace_period, so the worker says why before SIGKILL would
        default=25.0,
        gt=0,
        le=600,
        description="longest graceful stop; past it the worker exits uncommitted (code 75)",
    )
    assess_seconds: float = Field(
        default=60.0, gt=0, description="how often the leader recomputes today's assessment"
    )

    api_host: str = Field(default="127.0.0.1", description="address `civicgrid api` binds")
    api_port: int = Field(
        default=8080, ge=0, le=65535, description="HTTP port of `civicgrid api`; 0 = free"
    )
    api_public_url: str | None = Field(
        default=None,
        description="the API's public base URL for case-page links; unset: http://HOST:PORT",
    )
    api_requests_per_minute: int = Field(
        default=60, ge=1, le=100_000, description="POSTs per minute per Open311 api_key"
    )
    console_secure_cookies: bool = Field(
        default=False,
        description="send the console's session cookie over HTTPS only (set behind TLS)",
    )
    reopen_on_dissatisfied_days: float = Field(
        default=7.0,
        ge=0,
        description="a 不满意 evaluation within this many days of closing reopens; 0: never",
    )

    # Limits of inbound values: contract (docs/contract.md, "Limits"); outside is a dead letter.
    max_value_bytes: int = Field(
        default=64 * 1024, ge=1024, le=VALUE_BYTES_CEILING, description="largest inbound value"
    )
    occurred_at_max_age_days: float = Field(
        default=30.0,
        ge=0,
        le=36_500,
        description="oldest accepted occurred_at, in days before receipt; raise for a backfill",
    )
    occurred_at_max_lead_minutes: float = Field(
        default=60.0,
        ge=0,
        le=525_600,
        description="latest accepted occurred_at, in minutes after receipt (clock skew)",
    )
    grid_max_vertices: int = Field(
        default=2000, ge=4, le=VERTICES_CEILING, description="points of a grid polygon"
    )
    grid_max_extent_km: float = Field(
        default=50.0, gt=0, le=1000, description="longest side of a grid polygon's bounding box"
    )
    grid_max_area_km2: float = Field(
        default=1000.0, gt=0, description="area a grid polygon may enclose"
    )

    def limits(self) -> Limits:
        return Limits(
            value_bytes=self.max_value_bytes,
            max_age=timedelta(days=self.occurred_at_max_age_days),
            max_lead=timedelta(minutes=self.occurred_at_max_lead_minutes),
            grid_vertices=self.grid_max_vertices,
            grid_extent_km=self.grid_max_extent_km,
            grid_area_km2=self.grid_max_area_km2,
        )

    @field_validator("kafka_broker")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is None:
            return None
        for server in value.split(","):
            host, _, port = server.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"expected host:port[,host:port], got {value!r}")
        return value

    @field_validator("city_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; expected e.g. Asia/Shanghai") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.city_timezone)

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("postgres://", "postgresql://")):
            raise ValueError("expected a postgresql:// URL")
        return value

    @model_validator(mode="after")
    def _combinations(self) -> "Settings":
        """The Kafka settings make one usable connection (files readable, SASL complete),
        and the pool bounds are in order."""
        try:
            KafkaConnection.from_settings(self, embedded_bootstrap="127.0.0.1:9092")
        except KafkaConfigError as error:
            raise ValueError(str(error)) from None
        if self.database_pool_min_size > self.database_pool_max_size:
            raise ValueError(
                f"CIVICGRID_DATABASE_POOL_MIN_SIZE ({self.database_pool_min_size}) exceeds "
                f"CIVICGRID_DATABASE_POOL_MAX_SIZE ({self.database_pool_max_size})"
            )
        return self


class SettingsError(StopError):
    """Invalid configuration, described by the environment variables at fault."""


def load_settings(**overrides: object) -> Settings:
    """Read the environment; name each bad `CIVICGRID_` variable in the error."""
    unknown = sorted(
        name
        for name in _environment_names()
        if name.removeprefix("CIVICGRID_").lower() not in Settings.model_fields
    )
    if unknown:
        raise SettingsError(f"unknown setting(s): {', '.join(unknown)}")
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        problems = "; ".join(
            f"CIVICGRID_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            if e["loc"]
            else str(e["msg"]).removeprefix("Value error, ")
            for e in error.errors()
        )
        raise SettingsError(f"invalid setting(s): {problems}") from None


def _environment_names() -> list[str]:
    import os

    return [name for name in os.environ if name.startswith("CIVICGRID_")]


@lru_cache(maxsize=1)
def env_names() -> tuple[str, ...]:
    """Every environment variable the service reads (docs and compose checks use this)."""
    return tuple(f"CIVICGRID_{name.upper()}" for name in Settings.model_fields)
