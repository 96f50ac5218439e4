"""The embedded PostgreSQL: the server binaries of the `pgserver` wheel, run and stopped by us.

pgserver's own lifecycle stops the server from `atexit`, which SIGTERM and SIGKILL skip; here
the server is our child with a parent-death signal, TCP on a free port, and a stale server from
a killed run is stopped before the next start.
"""

import importlib.util
import logging
import os
import signal
import subprocess
import time
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

_SERVER_USER = "pgserver"  # postgres refuses to run as root
DATABASE = "civicgrid"


def postgres_bin() -> Path:
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServiceError(
            "embedded PostgreSQL: the package pgserver is not installed (pip install pgserver)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (path / "postgres").exists():
        raise EmbeddedServiceError(f"embedded PostgreSQL: no postgres binary under {path}")
    return path


def _server_user() -> str | None:
    if os.geteuid() != 0:
        return None
    import pwd

    try:
        pwd.getpwnam(_SERVER_USER)
    except KeyError:
        subprocess.run(["useradd", "-M", "-s", "/usr/sbin/nologin", _SERVER_USER], check=True)
    return _SERVER_USER


def _open_path_for(user: str, path: Path) -> None:
    """Let the unprivileged server user traverse to its data and binaries."""
    import pwd
    import stat

    entry = pwd.getpwnam(user)
    for parent in path.parents:
        mode = parent.stat().st_mode
        wanted = mode | stat.S_IXOTH | stat.S_IXGRP
        if mode != wanted:
            parent.chmod(wanted)
    os.chown(path, entry.pw_uid, entry.pw_gid)


def _check_writable(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as error:
        raise EmbeddedServiceError(
            f"embedded PostgreSQL: data dir {directory} is not writable ({error.strerror}); "
            "set CIVICGRID_DATA_DIR"
        ) from None


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def pgdata(self) -> Path:
        return self.data_dir.resolve() / "postgres"

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{DATABASE}"

    def start(self) -> None:
        binaries = postgres_bin()
        _check_writable(self.data_dir)
        user = _server_user()
        self.pgdata.mkdir(exist_ok=True)
        if user is not None:
            _open_path_for(user, self.pgdata)
        kill_stale(self.pgdata / "postmaster.pid", "postgres")
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb(binaries, user)
        if self.port:
            ensure_port_free(self.port, "embedded PostgreSQL")
        else:
            self.port = free_port()
        log_path = self.data_dir / "postgres.log"
        self.process = spawn(
            [
                str(binaries / "postgres"),
                "-D",
                str(self.pgdata),
                "-p",
                str(self.port),
                "-h",
                "127.0.0.1",
                "-c",
                "unix_socket_directories=",
                # a killed *process* keeps its writes in the page cache; only an OS crash
                # would need fsync, and the embedded server is for development and tests
                "-c",
                "fsync=off",
                "-c",
                "max_connections=200",
            ],
            log_path=log_path,
            death_signal=signal.SIGINT,
            user=user,
        )
        wait_for_port(self.port, self.process, "embedded PostgreSQL", log_path, timeout=30)
        self._wait_accepting(binaries, log_path)
        log.info("embedded PostgreSQL listening", extra={"port": self.port})

    def _initdb(self, binaries: Path, user: str | None) -> None:
        result = subprocess.run(
            [
                str(binaries / "initdb"),
                "-D",
                str(self.pgdata),
                "--auth=trust",
                "--encoding=utf8",
                "--locale=C",
                "-U",
                "postgres",
            ],
            capture_output=True,
            text=True,
            user=user,
        )
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise EmbeddedServiceError(f"embedded PostgreSQL: initdb failed: {last}")

    def _wait_accepting(self, binaries: Path, log_path: Path) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready = subprocess.run(
                [str(binaries / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"],
                check=False,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        raise EmbeddedServiceError(f"embedded PostgreSQL not ready in 30 s; see {log_path}")

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process, signal.SIGINT, 15.0)
            self.process = None
