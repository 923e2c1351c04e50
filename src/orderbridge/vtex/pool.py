"""The HTTP transport under `VtexTransport`: httpx2's own, on a network backend with a cheap idle probe.

Before every request and after every response, the connection pool asks each idle connection whether
the server has closed it ("is the socket readable?"). httpcore2's anyio stream answers by rebuilding
anyio's whole attribute table for the socket (a `getpeername` system call and a dict of lambdas) before
it polls: with a few dozen pooled connections that probe was the largest single CPU cost of a VTEX call.
Here each stream keeps its raw socket from the start and the probe is one `poll` of it — the same
question, the same answer.
"""

# ruff: noqa: ASYNC109 - the `timeout` parameters are httpcore2's network interface, not ours to change

from __future__ import annotations

import select
import socket
from collections.abc import Iterable
from typing import Any

import anyio
import httpcore2
import httpx2

SocketOption = tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]


def is_readable(sock: socket.socket | None) -> bool:
    """True when a read would not block: data, or (on an idle HTTP/1.1 connection) the server's EOF."""
    if sock is None or sock.fileno() < 0:
        return True  # a closed socket: the pool must drop the connection
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    return bool(poller.poll(0))


class _Stream(httpcore2.AsyncNetworkStream):
    def __init__(self, inner: httpcore2.AsyncNetworkStream) -> None:
        self._inner = inner
        self._socket: socket.socket | None = inner.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore2.AsyncNetworkStream:
        return _Stream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            return is_readable(self._socket)
        return self._inner.get_extra_info(info)


class CheapProbeBackend(httpcore2.AsyncNetworkBackend):
    """httpcore2's anyio backend, with streams whose idle probe is a single `poll`."""

    def __init__(self) -> None:
        self._inner = httpcore2.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        stream = await self._inner.connect_tcp(
            host, port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )
        return _Stream(stream)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[SocketOption] | None = None
    ) -> httpcore2.AsyncNetworkStream:
        return _Stream(await self._inner.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


class PooledTransport(httpx2.AsyncHTTPTransport):
    """`httpx2.AsyncHTTPTransport` (request/response mapping, error mapping) over a pool that uses
    `CheapProbeBackend`. Direct connections only: VTEX calls never go through a proxy here."""

    def __init__(self, *, max_connections: int, http2: bool) -> None:
        super().__init__(trust_env=False, http2=http2)
        # Replaces the pool the parent just built with the same settings plus our backend; the parent
        # keeps its pool in `_pool` (the attribute every request goes through).
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=httpx2.create_ssl_context(trust_env=False),
            # Keep every pooled connection alive: with httpx's default of 20 keep-alive slots, each
            # burst above 20 concurrent calls would close and later reopen (TLS) connections.
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=httpx2.Limits().keepalive_expiry,
            http1=True,
            http2=http2,
            network_backend=CheapProbeBackend(),
        )
