"""`civicgrid run` and `civicgrid api` as child processes: the demo, the tests, chaos and
benchmarks all drive real service processes, so they can be stopped, killed and restarted."""

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Self

from civicgrid.embedded.process import free_port, spawn
from civicgrid.embedded.stack import Endpoints


@dataclass
class ServiceProcess:
    """One `civicgrid <command>` child on the given services, listening on a free port."""

    command: ClassVar[str]
    port_variable: ClassVar[str]
    ready_path: ClassVar[str]

    endpoints: Endpoints
    data_dir: Path
    log_path: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        self.port = self.port or free_port()
        env = {
            **os.environ,
            **self.endpoints.environment(),
            self.port_variable: str(self.port),
            "CIVICGRID_DATA_DIR": str(self.data_dir.resolve()),
            **self.extra_env,
        }
        # the child dies with whoever started it, like the embedded services
        self.process = spawn(
            [sys.executable, "-m", "civicgrid", self.command], log_path=self.log_path, env=env
        )
        return self

    def health(self, path: str | None = None) -> int | None:
        """The HTTP status of `path` (the readiness path by default), None when it does not
        answer."""
        try:
            with urllib.request.urlopen(self.url + (path or self.ready_path), timeout=1) as r:
                return int(r.status)
        except urllib.error.HTTPError as error:
            return int(error.code)
        except OSError:
            return None

    def wait_ready(self, timeout: float = 90.0) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"civicgrid {self.command} exited with code {self.process.returncode};"
                    f" see {self.log_path}"
                )
            if self.health() == 200:
                return
            time.sleep(0.3)
        raise TimeoutError(
            f"civicgrid {self.command} was not ready within {timeout:.0f} s; see {self.log_path}"
        )

    def wait(self) -> int:
        """Until the child exits by itself (or by a signal to the whole group)."""
        assert self.process is not None
        return self.process.wait()

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM and wait: the clean way out."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def kill(self) -> None:
        """SIGKILL: the crash the reliability tests are about."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@dataclass
class WorkerProcess(ServiceProcess):
    """`civicgrid run`: ready once its stages flow (`/health/ready`)."""

    command: ClassVar[str] = "run"
    port_variable: ClassVar[str] = "CIVICGRID_WEB_PORT"
    ready_path: ClassVar[str] = "/health/ready"


@dataclass
class ApiProcess(ServiceProcess):
    """`civicgrid api`: ready once it answers the Open311 service list."""

    command: ClassVar[str] = "api"
    port_variable: ClassVar[str] = "CIVICGRID_API_PORT"
    ready_path: ClassVar[str] = "/open311/v2/services.json"
