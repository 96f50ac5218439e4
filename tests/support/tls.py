"""A throwaway certificate authority and Debian's stunnel as the TLS hop in front of the
embedded broker, which speaks plaintext only (scripts/ensure-stunnel.sh installs stunnel)."""

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from civicgrid.embedded.process import free_port, spawn, stop, wait_for_port


@dataclass(frozen=True)
class Certificates:
    ca: Path  # the CA certificate clients trust
    server_cert: Path  # signed by the CA, for DNS:localhost and IP:127.0.0.1
    server_key: Path
    other_ca: Path  # a CA that did not sign the server's certificate


_EC_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1")  # fast to make


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _ca(directory: Path, name: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    _openssl(
        "req", "-x509", *_EC_KEY, "-nodes", "-days", "2",
        "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(cert),
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    return cert, key


def make_certificates(directory: Path) -> Certificates:
    """A CA, a server certificate it signs for localhost, and an unrelated CA."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_cert, ca_key = _ca(directory, "test-ca")
    other_ca, _ = _ca(directory, "other-ca")
    key, request, cert = (directory / f"server.{ext}" for ext in ("key", "csr", "pem"))
    extensions = directory / "server.ext"
    extensions.write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
        "extendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n"
    )
    _openssl(
        "req", "-new", *_EC_KEY, "-nodes", "-subj", "/CN=localhost",
        "-keyout", str(key), "-out", str(request),
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", str(request), "-CA", str(ca_cert), "-CAkey", str(ca_key),
        "-CAcreateserial", "-days", "2", "-extfile", str(extensions), "-out", str(cert),
    )  # fmt: skip
    return Certificates(ca_cert, cert, key, other_ca)


def stunnel_binary() -> str | None:
    return shutil.which("stunnel4") or shutil.which("stunnel")


@dataclass
class TlsTerminator:
    """stunnel accepting TLS on `port` (127.0.0.1) and forwarding plaintext to `target`."""

    directory: Path
    certificates: Certificates
    target_port: int
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.directory / "stunnel.log"

    def start(self) -> "TlsTerminator":
        binary = stunnel_binary()
        assert binary, "stunnel is missing: bash scripts/ensure-stunnel.sh"
        self.port = self.port or free_port()
        config = self.directory / "stunnel.conf"
        config.write_text(
            "foreground = yes\n"
            f"output = {self.log}\n"
            "debug = info\n"
            "[kafka]\n"
            f"accept = 127.0.0.1:{self.port}\n"
            f"connect = 127.0.0.1:{self.target_port}\n"
            f"cert = {self.certificates.server_cert}\n"
            f"key = {self.certificates.server_key}\n"
        )
        self.process = spawn([binary, str(config)], log_path=self.directory / "stunnel.out")
        wait_for_port(self.port, self.process, "stunnel", self.directory / "stunnel.out", 10)
        return self

    def accepted(self) -> int:
        """TLS connections stunnel accepted so far (from its log)."""
        if not self.log.exists():
            return 0
        return self.log.read_text(errors="replace").count("accepted connection from")

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process, 15, 5.0)
            self.process = None
