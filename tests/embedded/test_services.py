"""Embedded services: they start, stop, leave nothing behind, and fail with one clear line."""

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from civicgrid.embedded.broker import EmbeddedBroker
from civicgrid.embedded.postgres import EmbeddedPostgres
from civicgrid.embedded.process import EmbeddedServiceError


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return state != "Z"


def test_broker_port_in_use_is_one_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        broker = EmbeddedBroker(tmp_path, port=port)
        with pytest.raises(EmbeddedServiceError, match=f"port 127.0.0.1:{port} is in use"):
            broker.start()


def test_unwritable_data_dir_is_one_clear_error(tmp_path: Path) -> None:
    # a file where the directory should be: unwritable for any user, root included
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(EmbeddedServiceError, match="not writable"):
        EmbeddedPostgres(blocker / "data").start()


def test_services_die_with_a_sigkilled_parent(tmp_path: Path) -> None:
    """A SIGKILLed civicgrid cannot stop its services; the kernel's parent-death signal
    does, so a killed run never blocks the next one."""
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from civicgrid.embedded.broker import EmbeddedBroker\n"
        "from civicgrid.embedded.postgres import EmbeddedPostgres\n"
        f"pg = EmbeddedPostgres(Path({str(tmp_path)!r})); pg.start()\n"
        f"b = EmbeddedBroker(Path({str(tmp_path)!r})); b.start()\n"
        "print(pg.process.pid, b.process.pid, flush=True)\n"
        "time.sleep(120)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    pids = [int(pid) for pid in parent.stdout.readline().split()]
    assert all(_running(pid) for pid in pids)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(_running(pid) for pid in pids):
        time.sleep(0.1)
    assert not any(_running(pid) for pid in pids)
    # the next run on the same data dir starts cleanly
    server = EmbeddedPostgres(tmp_path)
    server.start()
    server.stop()
