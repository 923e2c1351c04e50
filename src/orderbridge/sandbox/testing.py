"""Run the sandbox for tests and benches: in a background thread (`SandboxServer`) or as a real
`orderbridge sandbox` subprocess (`sandbox_subprocess`)."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import IO, Self

import uvicorn
from starlette.applications import Starlette
from starlette.types import ASGIApp

from orderbridge.sandbox.app import create_app
from orderbridge.sandbox.client import SandboxClient
from orderbridge.sandbox.config import SandboxAccount, SandboxConfig
from orderbridge.sandbox.state import OmsState


def sandbox_client(base_url: str, timeout_s: float) -> SandboxClient:
    """A client for the sandbox's `/_sandbox` routes, for a watcher that polls it for a long time (idle
    connections dropped before uvicorn's 5 s keep-alive ends: see `sandbox.client`)."""
    return SandboxClient(base_url, timeout_s)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class BackgroundServer:
    """Any ASGI app on uvicorn in a daemon thread, on 127.0.0.1 and a free port (sync or async context)."""

    def __init__(self, app: ASGIApp, startup_timeout_s: float = 10.0) -> None:
        self.app = app
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._startup_timeout_s = startup_timeout_s
        self._server = uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=self.port,
                access_log=False,
                log_level="warning",
                lifespan="on",
                loop="asyncio",
            )
        )
        self._thread = threading.Thread(target=self._server.run, name=f"asgi-{self.port}", daemon=True)

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + self._startup_timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self.stop)


class SandboxServer(BackgroundServer):
    """`with SandboxServer(config) as server:` (or `async with`) -> the sandbox at `server.base_url`."""

    def __init__(self, config: SandboxConfig | None = None, startup_timeout_s: float = 10.0) -> None:
        self.config = config or SandboxConfig()
        self.sandbox_app: Starlette = create_app(self.config)
        super().__init__(self.sandbox_app, startup_timeout_s)

    @property
    def oms(self) -> OmsState:
        """The live state; read it freely, but change it through HTTP while the server runs."""
        state: OmsState = self.sandbox_app.state.oms
        return state


@contextlib.contextmanager
def sandbox_subprocess(
    seed_orders: int = 0,
    *,
    port: int | None = None,
    account_name: str = "sandboxaccount",
    app_key: str = "vtexappkey-sandbox",
    app_token: str = "sandbox-token",
    latency_ms: int = 0,
    faults: str = "none",
    more_accounts: Sequence[SandboxAccount] = (),
    extra_args: list[str] | None = None,
    startup_timeout_s: float = 20.0,
) -> Iterator[str]:
    """Start `python -m orderbridge.cli sandbox ...` on 127.0.0.1, yield its base URL, terminate it.

    `more_accounts` are served beside `account_name`, each at `{base_url}/{name}`."""
    port = port or free_port()
    accounts = [f"--account={a.name}:{a.app_key}:{a.app_token}" for a in more_accounts]
    command = [
        sys.executable,
        "-m",
        "orderbridge.cli",
        "sandbox",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--account-name",
        account_name,
        "--app-key",
        app_key,
        "--app-token",
        app_token,
        "--seed-orders",
        str(seed_orders),
        "--latency-ms",
        str(latency_ms),
        "--faults",
        faults,
        *accounts,
        *(extra_args or []),
    ]
    with tempfile.TemporaryFile() as stderr:  # a file, not a pipe nobody drains while it runs
        process = subprocess.Popen(
            command,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        base_url = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(process, base_url, startup_timeout_s, stderr)
            yield base_url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _wait_until_up(
    process: subprocess.Popen[bytes], base_url: str, timeout_s: float, stderr: IO[bytes]
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stderr.seek(0)
            err = stderr.read().decode(errors="replace")
            raise RuntimeError(f"the sandbox exited with {process.returncode}: {err[-2000:]}")
        if _answers_health(base_url):
            return
        time.sleep(0.05)
    raise RuntimeError(f"the sandbox did not answer within {timeout_s} s")


def _answers_health(base_url: str) -> bool:
    """One synchronous look at `/_sandbox/health` (this runs outside any event loop), straight to the
    loopback port: no proxy from the environment."""
    host, _, port = base_url.removeprefix("http://").partition(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=1.0)
    try:
        connection.request("GET", "/_sandbox/health")
        return connection.getresponse().status == 200
    except (OSError, http.client.HTTPException):  # refused while it starts, reset, timeout
        return False
    finally:
        connection.close()
