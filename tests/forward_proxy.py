"""Outgoing HTTP as production meets it, for tests: a real forward proxy (proxy.py, a maintained one,
run as a subprocess on loopback; what passes through it is in its access log, one line per connection)
and a throwaway self-signed certificate for 127.0.0.1. The fixtures `forward_proxy`, `proxy_free_env`
and `tls_server_context` (tests/conftest.py) hand them out."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from orderbridge.sandbox.testing import free_port

PROXY_ENV = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy", "ALL_PROXY")


@dataclass
class Proxy:
    url: str
    log: Path

    def access_lines(self, naming: str, timeout_s: float = 10.0) -> list[str]:
        """The access log's lines naming `naming`, waiting for the first: proxy.py writes a connection's
        line once the connection closes, a moment after the client let go of it (later on a busy
        machine)."""
        deadline = time.monotonic() + timeout_s
        while True:
            text = self.log.read_text() if self.log.exists() else ""
            found = [line for line in text.splitlines() if "access_log" in line and naming in line]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.05)


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("proxy.py exited at start-up")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("proxy.py did not start listening")


@contextmanager
def running_proxy(log_dir: Path) -> Iterator[Proxy]:
    port = free_port()
    log = log_dir / "proxy.log"
    command = [sys.executable, "-m", "proxy", "--hostname", "127.0.0.1", "--port", str(port)]
    command += ["--num-acceptors", "1", "--num-workers", "1", "--log-file", str(log)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_port(port, process)
        yield Proxy(f"http://127.0.0.1:{port}", log)
    finally:
        process.terminate()
        process.wait(timeout=10)


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            *["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"],
            *["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
            *["-keyout", str(key), "-out", str(cert)],
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def tls_context_and_cert(directory: Path) -> tuple[ssl.SSLContext, Path]:
    """A server-side TLS context for 127.0.0.1, and its certificate (PEM) for a client to trust."""
    if shutil.which("openssl") is None:
        raise RuntimeError("the TLS tests need the openssl command to make a throwaway certificate")
    cert, key = self_signed_certificate(directory)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context, cert
