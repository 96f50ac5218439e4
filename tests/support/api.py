"""`civicgrid api` as a child process over the test's broker and database, and an HTTP client."""

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from tools.workerproc import ApiProcess as ApiService


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
class ApiProcess(ApiService):
    """`civicgrid api` with an HTTP client that keeps every answer, for the privacy checks."""

    answers: list[Answer] = field(default_factory=list)

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
