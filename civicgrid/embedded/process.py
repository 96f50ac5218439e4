"""Child processes that cannot outlive civicgrid, and clear errors when they cannot start."""

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from civicgrid.errors import StopError

_PR_SET_PDEATHSIG = 1


class EmbeddedServiceError(StopError):
    """An embedded service could not start; the message is one line for the operator."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def ensure_port_free(port: int, service: str, host: str = "127.0.0.1") -> None:
    with socket.socket() as sock:
        # As the servers bind: connections of a stopped server in TIME_WAIT do not keep a
        # restart off its port, only a socket still listening does.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            raise EmbeddedServiceError(
                f"{service}: port {host}:{port} is in use; choose another or 0 for a free one"
            ) from None


def _die_with_parent(sig: int) -> Callable[[], None]:
    """A SIGKILLed civicgrid must not leave its services running: the kernel signals them."""

    def set_death_signal() -> None:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
        # a detached session keeps a terminal's Ctrl-C from reaching the child before we stop it
        os.setsid()

    return set_death_signal


def spawn(
    argv: Sequence[str],
    *,
    log_path: Path,
    death_signal: int = signal.SIGTERM,
    user: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            list(argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent(death_signal),
            user=user,
            env=env,
        )


def wait_for_port(
    port: int, process: subprocess.Popen[bytes], service: str, log_path: Path, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EmbeddedServiceError(
                f"{service} exited with code {process.returncode} at start; see {log_path}"
            )
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    stop(process, signal.SIGTERM, 2.0)
    raise EmbeddedServiceError(f"{service} did not answer on port {port} within {timeout:.0f} s")


def stop(process: subprocess.Popen[bytes], sig: int, timeout: float) -> None:
    if process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def kill_stale(pid_file: Path, expected_name: str) -> None:
    """Stop a service left by a run that died before it could stop it."""
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        cmdline = b""
    if expected_name.encode() in cmdline:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        for _ in range(100):
            if not Path(f"/proc/{pid}").exists():
                break
            time.sleep(0.05)
    pid_file.unlink(missing_ok=True)
