"""`civicgrid api` as a child process over the test's broker and database, and an HTTP client."""

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from civicgrid.embedded.process import free_port, spawn
from civicgrid.embedded.stack import Endpoints


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


@dataclass
class ApiProcess:
    endpoints: Endpoints
    data_dir: Path
    log_path: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    answers: list[Answer] = field(default_factory=list)  # every answer, for privacy checks

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "ApiProcess":
        self.port = free_port()
        env = {
            **os.environ,
            **self.endpoints.environment(),
            "CIVICGRID_API_PORT": str(self.port),
            "CIVICGRID_DATA_DIR": str(self.data_dir.resolve()),
            **self.extra_env,
        }
        self.process = spawn(
            [sys.executable, "-m", "civicgrid", "api"], log_path=self.log_path, env=env
        )
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the api exited with {self.process.returncode}; see {self.log_path}"
                )
            try:
                if self.get("/open311/v2/services.json").status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"the api was not ready within {timeout:.0f} s; see {self.log_path}")

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> Answer:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/x-www-form-urlencoded")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                answer = Answer(response.status, response.headers["Content-Type"], response.read())
        except urllib.error.HTTPError as error:
            answer = Answer(error.code, error.headers["Content-Type"] or "", error.read())
        self.answers.append(answer)
        return answer

    def get(self, path: str) -> Answer:
        return self.request("GET", path)

    def post(self, path: str, form: dict[str, str]) -> Answer:
        return self.request("POST", path, form)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
