"""`civicgrid demo` on the embedded stack: it completes with counts that match Postgres, and
a SIGTERM or SIGINT in the middle leaves no broker, database or worker process behind."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


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
        [sys.executable, "-m", "civicgrid", "demo", "--events", "400"],
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


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_demo_interrupted_leaves_nothing_running(tmp_path: Path, sig: signal.Signals) -> None:
    data = tmp_path / "data"
    demo = subprocess.Popen(
        [sys.executable, "-m", "civicgrid", "demo", "--events", "20000"],
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
