"""A `civicgrid run` worker as a child process: the demo, the tests, chaos and benchmarks
all drive real worker processes, so they can be stopped, killed and restarted."""

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from civicgrid.embedded.process import free_port, spawn
from civicgrid.embedded.stack import Endpoints


@dataclass
class WorkerProcess:
    endpoints: Endpoints
    data_dir: Path
    log_path: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> "WorkerProcess":
        self.port = free_port()
        env = {
            **os.environ,
            **self.endpoints.environment(),
            "CIVICGRID_WEB_PORT": str(self.port),
            "CIVICGRID_DATA_DIR": str(self.data_dir.resolve()),
            **self.extra_env,
        }
        # the worker dies with whoever started it, like the embedded services
        self.process = spawn(
            [sys.executable, "-m", "civicgrid", "run"], log_path=self.log_path, env=env
        )
        return self

    def health(self, path: str = "/health/ready") -> int | None:
        """The HTTP status of a health endpoint, None when it does not answer."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=1) as r:
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
                    f"the worker exited with code {self.process.returncode}; see {self.log_path}"
                )
            if self.health() == 200:
                return
            time.sleep(0.3)
        raise TimeoutError(f"the worker was not ready within {timeout:.0f} s; see {self.log_path}")

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
