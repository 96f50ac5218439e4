"""How civicgrid reaches Kafka: one value, made from the settings, that every client uses.

Every Kafka client of the service (the worker's Faust app, its registry follower and state
mirror, the API's producer, every CLI command, the tools) is built from a `KafkaConnection`:
`client_options()` gives aiokafka's keyword arguments, `faust_options()` Faust's. A bare
`host:port` string reaches a plaintext broker only, which is what the embedded Tansu is.

The connection also says what the cluster expects of the topics civicgrid creates
(replication factor, `min.insync.replicas`) and whether it is the embedded broker, whose
quirks get their own client tuning (`civicgrid/app.py`). Secrets are `SecretStr`: they are
handed to the client libraries and never appear in `repr()`, logs or errors.
"""

import ssl
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, get_args

from pydantic import SecretStr

from civicgrid.errors import StopError

if TYPE_CHECKING:
    from civicgrid.settings import Settings

SecurityProtocol: TypeAlias = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism: TypeAlias = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
SECURITY_PROTOCOLS: tuple[str, ...] = get_args(SecurityProtocol)
SASL_MECHANISMS: tuple[str, ...] = get_args(SaslMechanism)

# What a production cluster expects of a topic: three copies, and a write acknowledged by
# acks=all only once two of them have it, so one broker may fail without losing a record.
EXTERNAL_REPLICATION_FACTOR = 3
EXTERNAL_MIN_INSYNC_REPLICAS = 2


# the settings that only a secured cluster takes (the embedded broker is plaintext)
_SECURITY_SETTINGS = (
    "kafka_ssl_ca_file",
    "kafka_ssl_cert_file",
    "kafka_ssl_key_file",
    "kafka_ssl_key_password",
    "kafka_sasl_mechanism",
    "kafka_sasl_username",
    "kafka_sasl_password",
)


class KafkaConfigError(StopError):
    """The Kafka connection settings contradict each other or name unusable files."""


def embedded_conflicts(settings: "Settings") -> list[str]:
    """Security settings given for the embedded broker, which is plaintext."""
    if settings.kafka_broker is not None:
        return []
    secured = [
        f"CIVICGRID_{name.upper()}" for name in _SECURITY_SETTINGS if getattr(settings, name)
    ]
    if settings.kafka_security_protocol != "PLAINTEXT":
        secured.insert(0, "CIVICGRID_KAFKA_SECURITY_PROTOCOL")
    if not secured:
        return []
    return [
        f"{', '.join(secured)} set without CIVICGRID_KAFKA_BROKER: the embedded broker is "
        "plaintext; set CIVICGRID_KAFKA_BROKER to the cluster these settings are for"
    ]


def _servers(bootstrap: str) -> list[str]:
    return [server.strip() for server in bootstrap.split(",") if server.strip()]


@dataclass(frozen=True, repr=False)
class KafkaConnection:
    """The brokers, how to authenticate to them, and what they expect of new topics.

    Invalid combinations do not construct (`KafkaConfigError`, naming the `CIVICGRID_`
    variables at fault); the TLS files are read when the connection is made, so a bad CA
    bundle or key password stops the start rather than the first connection.
    """

    bootstrap: str
    security_protocol: SecurityProtocol = "PLAINTEXT"
    ca_file: Path | None = None  # None: the system's trust store
    cert_file: Path | None = None  # the client's certificate (PEM), for mutual TLS
    key_file: Path | None = None
    key_password: SecretStr | None = None
    check_hostname: bool = True
    sasl_mechanism: SaslMechanism | None = None
    username: str | None = None
    password: SecretStr | None = None
    tansu: bool = False  # the broker is a Tansu (the embedded one): its own client tuning
    replication_factor: int = 1
    min_insync_replicas: int = 1

    def __post_init__(self) -> None:
        problems = self._problems()
        if problems:
            raise KafkaConfigError(f"invalid Kafka settings: {'; '.join(problems)}")
        if self.tls:
            _ = self.ssl_context  # read the files now: a bad one stops the start

    @classmethod
    def plaintext(cls, bootstrap: str, *, tansu: bool = True) -> "KafkaConnection":
        """A broker without TLS or SASL, one replica per topic: the embedded one, tests."""
        return cls(bootstrap, tansu=tansu)

    @classmethod
    def from_settings(
        cls, settings: "Settings", embedded_bootstrap: str | None = None
    ) -> "KafkaConnection":
        """The configured cluster (`CIVICGRID_KAFKA_*`), or the embedded broker at
        `embedded_bootstrap` when `CIVICGRID_KAFKA_BROKER` is unset."""
        problems = embedded_conflicts(settings)
        if problems:
            raise KafkaConfigError(f"invalid Kafka settings: {'; '.join(problems)}")
        tansu = settings.kafka_tansu or settings.kafka_broker is None
        factor = settings.kafka_replication_factor or (1 if tansu else EXTERNAL_REPLICATION_FACTOR)
        insync = settings.kafka_min_insync_replicas or (
            1 if tansu else min(EXTERNAL_MIN_INSYNC_REPLICAS, factor)
        )
        bootstrap = settings.kafka_broker or embedded_bootstrap
        if bootstrap is None:
            raise KafkaConfigError("CIVICGRID_KAFKA_BROKER is not set and no broker runs")
        return cls(
            bootstrap,
            security_protocol=settings.kafka_security_protocol,
            ca_file=settings.kafka_ssl_ca_file,
            cert_file=settings.kafka_ssl_cert_file,
            key_file=settings.kafka_ssl_key_file,
            key_password=settings.kafka_ssl_key_password,
            check_hostname=settings.kafka_ssl_check_hostname,
            sasl_mechanism=settings.kafka_sasl_mechanism,
            username=settings.kafka_sasl_username,
            password=settings.kafka_sasl_password,
            tansu=tansu,
            replication_factor=factor,
            min_insync_replicas=insync,
        )

    @property
    def tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def sasl(self) -> bool:
        return self.security_protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    @property
    def servers(self) -> list[str]:
        return _servers(self.bootstrap)

    @cached_property
    def ssl_context(self) -> ssl.SSLContext | None:
        """One context for every client of the process; None without TLS."""
        if not self.tls:
            return None
        try:
            context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        except (ssl.SSLError, OSError) as error:
            raise KafkaConfigError(
                f"CIVICGRID_KAFKA_SSL_CA_FILE: {self.ca_file} is not a PEM CA bundle ({error})"
            ) from None
        context.check_hostname = self.check_hostname
        if self.cert_file is not None and self.key_file is not None:
            password = self.key_password.get_secret_value() if self.key_password else None
            try:
                context.load_cert_chain(str(self.cert_file), str(self.key_file), password)
            except (ssl.SSLError, OSError) as error:
                raise KafkaConfigError(
                    "CIVICGRID_KAFKA_SSL_CERT_FILE / CIVICGRID_KAFKA_SSL_KEY_FILE: the client "
                    f"certificate and key cannot be loaded (wrong key password, or not a "
                    f"matching PEM pair: {error.__class__.__name__})"
                ) from None
        return context

    def client_options(self) -> dict[str, Any]:
        """aiokafka's keyword arguments (producer, consumer, admin client)."""
        options: dict[str, Any] = {
            "bootstrap_servers": self.servers,
            "security_protocol": self.security_protocol,
        }
        if self.tls:
            options["ssl_context"] = self.ssl_context
        if self.sasl:
            assert self.password is not None  # checked at construction
            options["sasl_mechanism"] = self.sasl_mechanism
            options["sasl_plain_username"] = self.username
            options["sasl_plain_password"] = self.password.get_secret_value()
        return options

    def faust_options(self) -> dict[str, Any]:
        """Faust's `broker` and `broker_credentials` (its clients get the same as ours)."""
        import faust

        credentials: Any = None
        if self.sasl:
            assert self.password is not None
            credentials = faust.SASLCredentials(
                username=self.username,
                password=self.password.get_secret_value(),
                ssl_context=self.ssl_context,
                mechanism=self.sasl_mechanism,
            )
        elif self.tls:
            credentials = faust.SSLCredentials(self.ssl_context)
        return {
            "broker": [f"kafka://{server}" for server in self.servers],
            "broker_credentials": credentials,
        }

    def __str__(self) -> str:
        """For log lines and messages: the servers and the protocol, no secret."""
        if self.security_protocol == "PLAINTEXT":
            return self.bootstrap
        return f"{self.bootstrap} ({self.security_protocol})"

    def __repr__(self) -> str:
        shown = [f"bootstrap={self.bootstrap!r}", f"security_protocol={self.security_protocol!r}"]
        if self.sasl:
            shown += [f"sasl_mechanism={self.sasl_mechanism!r}", f"username={self.username!r}"]
        if self.tansu:
            shown.append("tansu=True")
        shown.append(f"replication={self.replication_factor}/{self.min_insync_replicas}")
        return f"KafkaConnection({', '.join(shown)})"

    def _problems(self) -> list[str]:
        problems: list[str] = []
        servers = self.servers
        if not servers:
            problems.append("CIVICGRID_KAFKA_BROKER: no broker given")
        for server in servers:
            host, _, port = server.rpartition(":")
            if not host or not port.isdigit():
                problems.append(f"CIVICGRID_KAFKA_BROKER: expected host:port, got {server!r}")
        if self.security_protocol not in SECURITY_PROTOCOLS:
            problems.append(
                f"CIVICGRID_KAFKA_SECURITY_PROTOCOL: {self.security_protocol!r} is not one of "
                f"{', '.join(SECURITY_PROTOCOLS)}"
            )
        problems += self._tls_problems()
        problems += self._sasl_problems()
        if self.replication_factor < 1 or self.min_insync_replicas < 1:
            problems.append("replication factor and min.insync.replicas are at least 1")
        if self.min_insync_replicas > self.replication_factor:
            problems.append(
                f"CIVICGRID_KAFKA_MIN_INSYNC_REPLICAS ({self.min_insync_replicas}) exceeds "
                f"CIVICGRID_KAFKA_REPLICATION_FACTOR ({self.replication_factor}): no acks=all "
                "write could ever succeed"
            )
        return problems

    def _tls_problems(self) -> list[str]:
        files = {
            "CIVICGRID_KAFKA_SSL_CA_FILE": self.ca_file,
            "CIVICGRID_KAFKA_SSL_CERT_FILE": self.cert_file,
            "CIVICGRID_KAFKA_SSL_KEY_FILE": self.key_file,
        }
        given = [name for name, path in files.items() if path is not None]
        if self.key_password is not None:
            given.append("CIVICGRID_KAFKA_SSL_KEY_PASSWORD")
        if not self.tls:
            if given:
                return [
                    f"{', '.join(given)} set, but CIVICGRID_KAFKA_SECURITY_PROTOCOL is "
                    f"{self.security_protocol}: TLS settings need SSL or SASL_SSL"
                ]
            return []
        problems = [
            f"{name}: no such file {path}"
            for name, path in files.items()
            if path is not None and not path.is_file()
        ]
        if (self.cert_file is None) != (self.key_file is None):
            problems.append(
                "CIVICGRID_KAFKA_SSL_CERT_FILE and CIVICGRID_KAFKA_SSL_KEY_FILE go together "
                "(a client certificate needs its key)"
            )
        if self.key_password is not None and self.key_file is None:
            problems.append(
                "CIVICGRID_KAFKA_SSL_KEY_PASSWORD set without CIVICGRID_KAFKA_SSL_KEY_FILE"
            )
        return problems

    def _sasl_problems(self) -> list[str]:
        given = [
            name
            for name, value in (
                ("CIVICGRID_KAFKA_SASL_MECHANISM", self.sasl_mechanism),
                ("CIVICGRID_KAFKA_SASL_USERNAME", self.username),
                ("CIVICGRID_KAFKA_SASL_PASSWORD", self.password),
            )
            if value is not None
        ]
        if not self.sasl:
            if given:
                return [
                    f"{', '.join(given)} set, but CIVICGRID_KAFKA_SECURITY_PROTOCOL is "
                    f"{self.security_protocol}: SASL settings need SASL_PLAINTEXT or SASL_SSL"
                ]
            return []
        problems = []
        if self.sasl_mechanism is None:
            problems.append(
                f"CIVICGRID_KAFKA_SECURITY_PROTOCOL={self.security_protocol} needs "
                f"CIVICGRID_KAFKA_SASL_MECHANISM ({', '.join(SASL_MECHANISMS)})"
            )
        elif self.sasl_mechanism not in SASL_MECHANISMS:
            problems.append(
                f"CIVICGRID_KAFKA_SASL_MECHANISM: {self.sasl_mechanism!r} is not one of "
                f"{', '.join(SASL_MECHANISMS)}"
            )
        if not self.username:
            problems.append(f"{self.security_protocol} needs CIVICGRID_KAFKA_SASL_USERNAME")
        if self.password is None or not self.password.get_secret_value():
            problems.append(f"{self.security_protocol} needs CIVICGRID_KAFKA_SASL_PASSWORD")
        return problems


Brokers: TypeAlias = KafkaConnection | str


def connection(brokers: Brokers) -> KafkaConnection:
    """The tools' entry points (publishers, the demo's helpers) also take a bare
    `host:port[,host:port]`, meaning a plaintext Tansu such as the embedded one; the
    service's own paths take a `KafkaConnection` made from the settings."""
    return brokers if isinstance(brokers, KafkaConnection) else KafkaConnection.plaintext(brokers)
