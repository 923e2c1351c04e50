"""`orderbridge run` as a real process (sandbox VTEX in this process, simulated warehouse, API on a free
port), for what only a separate process shows: its memory (`VmRSS`) and the files it creates."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from orderbridge.pipeline.deps import HOOK_SECRET_HEADER
from orderbridge.sandbox.testing import SandboxServer, free_port
from pipeline.conftest import ACCOUNT, APP_KEY, APP_TOKEN, sandbox_config

TOKEN = "erp-t0ken-for-tests"
HOOK_SECRET = "hook-s3cret-for-tests"
CONFIG = """
database_url = "sqlite:///{db}"
workers = 2
reconcile_interval_s = 3600

[[accounts]]
name = "{account}"
base_url = "{base_url}"
pollers = 1
intake = "both"

{erp}
[api]
port = {port}
"""
WAREHOUSE = """
[erp]
adapter = "warehouse"

[erp.warehouse]
database = "{directory}/wh.db"
idle_poll_s = 0.05
"""
FILES = """
[erp]
adapter = "files"

[erp.files]
outbox = "{directory}/erp/outbox"
inbox = "{directory}/erp/inbox"
poll_interval_s = 0.05
"""


@dataclass(frozen=True)
class RunningService:
    pid: int
    host: str
    port: int
    directory: Path
    sandbox_url: str

    def rss_kib(self) -> int:
        """Resident memory of the service process, from /proc (what the kernel charges it)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS line")


@contextmanager
def running_service(tmp: Path, umask: int | None = None, erp: str = WAREHOUSE) -> Iterator[RunningService]:
    port = free_port()
    with SandboxServer(sandbox_config()) as sandbox:
        config = tmp / "orderbridge.toml"
        config.write_text(
            CONFIG.format(
                db=tmp / "ob.db",
                account=ACCOUNT,
                base_url=sandbox.base_url,
                erp=erp.format(directory=tmp),
                port=port,
            )
        )
        env = {
            **os.environ,
            "VTEX_APP_KEY": APP_KEY,
            "VTEX_APP_TOKEN": APP_TOKEN,
            "VTEX_HOOK_SECRET": HOOK_SECRET,
            "ORDERBRIDGE_API_TOKENS": TOKEN,
            "ORDERBRIDGE_LOG_LEVEL": "info",
        }
        log_path = tmp / "service.log"
        command = [sys.executable, "-m", "orderbridge.cli", "run", "--config", str(config)]
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=(lambda: os.umask(umask)) if umask is not None else None,
            )
        try:
            _wait_listening(process, port, log_path)
            yield RunningService(process.pid, "127.0.0.1", port, tmp, sandbox.base_url)
        finally:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=20)


def _wait_listening(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        assert process.poll() is None, f"the service exited: {log.read_text(errors='replace')[-2000:]}"
        assert time.monotonic() < deadline, "the service did not listen within 30 s"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)


def post_raw(
    service: RunningService, path: str, body_size: int, headers: dict[str, str], *, chunked: bool = False
) -> int:
    """POST `body_size` bytes (Content-Length, or chunked) over a raw socket and return the status.

    The body is written by a second thread while this one waits for the answer, so a server that
    answers early (413, 401) is read without sending everything, and one that reads it all still works.
    """
    head = [f"POST {path} HTTP/1.1", f"Host: {service.host}", "Content-Type: application/json"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {body_size}")
    sock = socket.create_connection((service.host, service.port), timeout=30)
    chunk = _json_chunk(64 * 1024)

    def write() -> None:
        try:
            sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
            sent = 0
            first = b'{"invoiceNumber": "1", "items": ['
            sock.sendall(_framed(first, chunked))
            sent += len(first)
            while sent < body_size:
                piece = chunk[: body_size - sent]
                sock.sendall(_framed(piece, chunked))
                sent += len(piece)
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server answered and stopped reading: expected for a refused body

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        answer = b""
        while b"\r\n" not in answer:
            received = sock.recv(4096)
            if not received:
                break
            answer += received
    finally:
        with contextlib.suppress(OSError):  # the server may have closed it first
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()
        writer.join(timeout=10)
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


def _framed(data: bytes, chunked: bool) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n" if chunked else data


def _json_chunk(size: int) -> bytes:
    """Many small JSON objects: the costliest kind of body to parse (an object each)."""
    item = b'{"id": "1", "quantity": 1, "price": 1},'
    return (item * (size // len(item) + 1))[:size]


HOOK_HEADERS = {HOOK_SECRET_HEADER: HOOK_SECRET}
AUTHORIZED = {"Authorization": f"Bearer {TOKEN}"}
