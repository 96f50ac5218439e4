"""`civicgrid demo` on the embedded stack: it completes with counts that match Postgres, the
commands it suggests then answer from what it left in PostgreSQL with no broker reachable,
and a SIGTERM or SIGINT in the middle leaves no broker, database or worker process behind."""

import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from http.cookiejar import CookieJar
from pathlib import Path

import orjson
import pytest

from civicgrid.domain.privacy import (
    KeyedHasher,
    case_link_secret,
    mask_text,
)
from civicgrid.embedded.process import free_port
from tests.support.kafka import NO_BROKER
from tests.support.privacy import holds_personal_numbers

_PROGRAM = f"{Path(sys.executable).parent / 'civicgrid'} "


def _environment(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIVICGRID_")}
    env["CIVICGRID_DATA_DIR"] = str(data_dir)
    return env


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            blob = (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes()
        except OSError:
            continue
        if text.encode() in blob:
            found.append(int(entry.name))
    return found


def test_demo_completes_and_accounts_for_every_record(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tools", "demo", "--events", "400"],
        env=_environment(tmp_path / "data"),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "every published record is in Postgres" in result.stdout
    processed = re.search(r"processed\s+([\d,]+) events", result.stdout)
    assert processed is not None
    assert int(processed.group(1).replace(",", "")) > 300
    # the simulated departments and workers act within the roster the demo publishes
    assert "'case_update'" in result.stdout
    assert "unauthorised" not in result.stdout
    assert _processes_mentioning(str(tmp_path)) == []

    # what the demo suggests, run as printed, with nothing listening where a broker would be
    suggested = [
        line.strip().removeprefix(_PROGRAM).split()
        for line in result.stdout.split("what to try next")[1].splitlines()
        if line.strip().startswith(_PROGRAM)
    ]
    assert [args[:2] for args in suggested] == [
        ["cases", "--open"],
        ["case", "show"],
        ["assess", "--day"],
    ]
    env = _environment(tmp_path / "data") | {"CIVICGRID_KAFKA_BROKER": NO_BROKER}
    for args in suggested:
        shown = subprocess.run(
            [sys.executable, "-m", "civicgrid", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert shown.returncode == 0, shown.stderr[-2000:]
        assert shown.stderr == ""  # no start-up logs without -v
        assert "Asia/Shanghai" in shown.stdout
        if args[0] == "cases":
            listed = re.search(r"^(\d+) case\(s\)$", shown.stdout, re.MULTILINE)
            assert listed is not None
            assert int(listed.group(1)) > 0
        elif args[0] == "case":
            assert f"case             {args[2]} (" in shown.stdout
            assert "+00:00" not in shown.stdout  # local times, not UTC
        else:
            workers = shown.stdout.split("grid_workers (")[1].splitlines()[3:]
            assert len(workers) > 10  # every demo grid worker ranked, from the state mirror


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_demo_interrupted_leaves_nothing_running(tmp_path: Path, sig: signal.Signals) -> None:
    data = tmp_path / "data"
    demo = subprocess.Popen(
        [sys.executable, "-m", "tools", "demo", "--events", "20000"],
        env=_environment(data),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert demo.stderr is not None
    for line in demo.stderr:
        if line.startswith("broker "):
            break
    time.sleep(3)  # the worker is up and events are flowing
    assert len(_processes_mentioning(str(tmp_path))) >= 3  # broker, database, worker
    demo.send_signal(sig)
    demo.wait(60)
    deadline = time.monotonic() + 20
    while _processes_mentioning(str(tmp_path)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_mentioning(str(tmp_path)) == []


def _no_personal_data_in_any_answer(api: str, data_dir: Path) -> None:
    """Every request of the demo's run, one by one, and every case's page: no personal
    number and no reporter id in any answer."""
    hasher = KeyedHasher((data_dir / "pseudonym.key").read_text().strip().encode())
    now = datetime.now(UTC)
    window = urllib.parse.urlencode(
        {
            "start_date": (now - timedelta(days=45)).isoformat(),
            "end_date": (now + timedelta(days=44)).isoformat(),
        }
    )
    answers = []
    with urllib.request.urlopen(f"{api}open311/v2/requests.json?{window}", timeout=30) as listed:
        answers.append(listed.read().decode())
    codes = [r["service_request_id"] for r in orjson.loads(answers[0])]
    assert len(codes) > 20
    for code in codes:
        for path in (
            f"open311/v2/requests/{code}.xml",
            f"c/{code}?k={case_link_secret(hasher, code)}",
        ):
            with urllib.request.urlopen(api + path, timeout=10) as answer:
                answers.append(answer.read().decode())
    for text in answers:
        assert not holds_personal_numbers(text), mask_text(text)[:3000]
        assert "R-" not in text  # the simulated residents' ids (R-<n>) never leave
    assert sum("办理过程" in text for text in answers) == len(codes)


def test_demo_serves_the_api_it_prints_until_interrupted(tmp_path: Path) -> None:
    """From a terminal (here --serve) the demo keeps its worker and `civicgrid api` up, and
    the URLs it prints open: the Open311 request and the resident's page of a real case."""
    port = free_port()
    demo = subprocess.Popen(
        [sys.executable, "-m", "tools", "demo", "--events", "200", "--serve"],
        env=_environment(tmp_path / "data") | {"CIVICGRID_API_PORT": str(port)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert demo.stdout is not None
    links: dict[str, str] = {}
    try:
        sign_in = ""
        for line in demo.stdout:
            what, _, url = line.strip().rpartition(" ")
            if url.startswith(f"http://127.0.0.1:{port}/"):
                links[what.strip()] = url
            if line.startswith("  console sign-in"):
                sign_in = line.split("console sign-in", 1)[1].strip()
                break
        assert {"API", "API docs", "Open311 services", "Open311 request", "case page"} <= set(links)
        for what in ("API", "Open311 services", "Open311 request", "case page"):
            with urllib.request.urlopen(links[what], timeout=10) as answer:
                assert answer.status == 200, what
        with urllib.request.urlopen(links["case page"], timeout=10) as answer:
            assert "办理过程" in answer.read().decode()
        name, _, password = sign_in.partition(" / ")
        console = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        form = urllib.parse.urlencode({"operator_id": name, "password": password}).encode()
        console.open(f"{links['console']}/login", form, timeout=10)
        with console.open(f"{links['console']}/api/grids", timeout=10) as answer:
            assert len(orjson.loads(answer.read())) > 10  # a city operator sees every grid
        _no_personal_data_in_any_answer(links["API"], tmp_path / "data")
    finally:
        demo.send_signal(signal.SIGINT)
        demo.wait(60)
    deadline = time.monotonic() + 20
    while _processes_mentioning(str(tmp_path)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_mentioning(str(tmp_path)) == []
