"""A lean HTTP/1.1 client for one origin: the default ``Sender`` under `VtexTransport`.

Why not httpx: its Request/Response models, h11 events, anyio streams and pool bookkeeping cost about
1.3 ms of CPU per VTEX call, several times the call's own work. The transport needs little of that:
one origin, fixed headers, small JSON bodies, status + ``Retry-After`` + body back. So this client
serializes a request as one ``bytes`` (the constant headers encoded once), writes it on an
``asyncio.Protocol`` connection and parses the answer by hand (``http11_parser``).

Connections are kept alive in a LIFO idle list (the most recently used socket is the one least likely
to have been closed by the server) with at most ``max_connections`` open and a FIFO queue of callers
waiting for one. A server closing an idle connection is noticed for free: the protocol's
``eof_received``/``connection_lost`` marks it dead and the pool never hands it out again — no probe
per request. Connections idle longer than ``keepalive_expiry_s`` are dropped too, before a server
with a short keep-alive timeout closes them under a request.

Failures raise ``SendFailed`` with httpx's names for them and whether the request may have left:
``PoolTimeout``, ``ConnectError`` and ``ConnectTimeout`` happen before any byte was written (not
sent); once the request is handed to the socket, ``ReadTimeout``, ``ReadError`` (reset, EOF before
a full response) and ``RemoteProtocolError`` (malformed answer) are sent — even on a reused
keep-alive connection that died before answering, since the server may have read the request.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import ssl
from collections import deque
from collections.abc import Mapping
from typing import cast
from urllib.parse import urlsplit

import certifi

from .http11_parser import ProtocolError, ResponseParser
from .sending import Reply, SendFailed

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_UNSAFE_IN_VALUE = re.compile(r"[\x00\r\n]")
# A request target is printable ASCII without spaces: build_path and urlencode guarantee it for ids.
_UNSAFE_IN_TARGET = re.compile(r"[^\x21-\x7e]")
_NO_BODY_METHODS = frozenset({"GET", "HEAD"})


@functools.cache
def default_ssl_context() -> ssl.SSLContext:
    """Certificate checks against certifi's CA bundle (shared: building a context reads the bundle)."""
    return ssl.create_default_context(cafile=certifi.where())


class _Connection(asyncio.Protocol):
    """One socket carrying one request at a time. ``alive`` turns False, once and for good, as soon as
    the connection cannot carry another request (closed by either side, broken, or told so)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._parser: ResponseParser | None = None
        self._waiter: asyncio.Future[Reply] | None = None
        self.alive = False
        self.idle_since = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its whole interface.
        self._transport = cast(asyncio.Transport, transport)
        self.alive = True

    async def exchange(self, request: bytes, no_body: bool, deadline: float) -> Reply:
        """Write ``request`` and wait for its response until ``deadline`` (loop time)."""
        assert self._transport is not None
        waiter: asyncio.Future[Reply] = self._loop.create_future()
        self._waiter = waiter
        self._parser = ResponseParser(no_body)
        self._transport.write(request)
        timer = self._loop.call_at(deadline, self._time_out)
        try:
            return await waiter
        except BaseException:
            self.abort()  # failed or cancelled mid-exchange: what remains on the wire is unknowable
            raise
        finally:
            timer.cancel()

    def data_received(self, data: bytes) -> None:
        parser = self._parser
        if parser is None:
            self.abort()  # bytes while idle answer nothing we asked: the stream is out of step
            return
        try:
            reply = parser.feed(data)
        except ProtocolError as exc:
            self._fail("RemoteProtocolError", str(exc))
            return
        if reply is not None:
            self._answer(reply, parser.keep_alive)

    def eof_received(self) -> bool:
        self.alive = False
        self._finish_at_eof()
        return False  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.alive = False
        if exc is None:
            self._finish_at_eof()
        else:
            self._fail("ReadError", str(exc))

    def abort(self) -> None:
        self.alive = False
        if self._transport is not None:
            self._transport.abort()

    def _finish_at_eof(self) -> None:
        parser = self._parser
        if parser is None:
            return
        reply = parser.feed_eof()
        if reply is None:
            self._fail("ReadError", "the server closed the connection before a full response")
        else:
            self._answer(reply, keep_alive=False)

    def _answer(self, reply: Reply, keep_alive: bool) -> None:
        waiter = self._waiter
        self._parser = None
        self._waiter = None
        if not keep_alive:
            self.alive = False
            assert self._transport is not None
            self._transport.close()
        if waiter is not None and not waiter.done():
            waiter.set_result(reply)

    def _fail(self, kind: str, detail: str) -> None:
        """Every failure once the request is written counts as sent: the server may have read it."""
        waiter = self._waiter
        self._parser = None
        self._waiter = None
        self.abort()
        if waiter is not None and not waiter.done():
            waiter.set_exception(SendFailed(kind, sent=True, detail=detail))

    def _time_out(self) -> None:
        if self._waiter is not None:  # not when the answer came in the same loop turn as the deadline
            self._fail("ReadTimeout", "no full response within the timeout")


def _expire(waiter: asyncio.Future[_Connection | None]) -> None:
    if not waiter.done():
        waiter.set_exception(SendFailed("PoolTimeout", sent=False, detail="no connection became free"))


class Http11Pool:
    """Keep-alive HTTP/1.1 connections to the origin of ``base_url``, sending ``headers`` with every
    request. A ``Sender``: ``await pool.send("GET", "/path?query", None, 10.0)``."""

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        *,
        max_connections: int = 100,
        keepalive_expiry_s: float = 5.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"not an http(s) URL: {url.scheme}://{url.hostname}")
        https = url.scheme == "https"
        self._host = url.hostname
        self._port = url.port or (443 if https else 80)
        self._ssl = (ssl_context or default_ssl_context()) if https else None
        self._prefix = url.path.rstrip("/")
        self._head = _encode_headers({"Host": _host_header(self._host, url.port), **headers})
        self._max = max_connections
        self._expiry_s = keepalive_expiry_s
        self._idle: list[_Connection] = []
        self._waiters: deque[asyncio.Future[_Connection | None]] = deque()
        self._open = 0  # connections counted against max_connections: connecting, busy or idle
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None

    async def send(self, method: str, target: str, body: bytes | None, timeout_s: float) -> Reply:
        if self._closed:
            raise RuntimeError("the HTTP client is closed")
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._adopt(loop)
        now = loop.time()
        deadline = now + timeout_s
        request = self._serialize(method, target, body)
        conn = self._take_idle(now) or await self._acquire(loop, deadline)
        try:
            return await conn.exchange(request, method == "HEAD", deadline)
        finally:
            self._release(conn, loop.time())

    async def aclose(self) -> None:
        """Close idle connections now and busy ones when their exchange ends; refuse new sends."""
        if asyncio.get_running_loop() is not self._loop:
            self._adopt(asyncio.get_running_loop())
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            self._forget(conn)
        while self._waiters:
            _expire(self._waiters.popleft())

    def _adopt(self, loop: asyncio.AbstractEventLoop) -> None:
        """First use, or use from another event loop (``asyncio.run`` twice): connections and waiters
        of a previous loop can neither be used nor closed from this one, so they are let go."""
        self._loop = loop
        for conn in self._idle:
            with contextlib.suppress(RuntimeError):  # "Event loop is closed": the socket goes with it
                conn.abort()
        self._idle = []
        self._waiters = deque()
        self._open = 0

    def _serialize(self, method: str, target: str, body: bytes | None) -> bytes:
        target = self._prefix + target
        if _UNSAFE_IN_TARGET.search(target):
            raise ValueError("the request target must be printable ASCII without spaces")
        line = f"{method} {target} HTTP/1.1\r\n".encode("ascii")
        if body is None:
            if method in _NO_BODY_METHODS:
                return line + self._head + b"\r\n"
            body = b""
        return b"".join((line, self._head, b"Content-Length: %d\r\n\r\n" % len(body), body))

    def _take_idle(self, now: float) -> _Connection | None:
        """The most recently used live connection, dropping dead or expired ones on the way."""
        idle = self._idle
        while idle:
            conn = idle.pop()
            if conn.alive and now - conn.idle_since < self._expiry_s:
                return conn
            self._forget(conn)
        return None

    async def _acquire(self, loop: asyncio.AbstractEventLoop, deadline: float) -> _Connection:
        while True:
            if self._open < self._max:
                self._open += 1
                return await self._connect(loop, deadline)
            granted = await self._wait_for_turn(loop, deadline)
            if granted is None:  # a freed slot, already counted for us
                return await self._connect(loop, deadline)
            if granted.alive:
                return granted
            self._forget(granted)  # it died between hand-over and now
            conn = self._take_idle(loop.time())
            if conn is not None:
                return conn

    async def _connect(self, loop: asyncio.AbstractEventLoop, deadline: float) -> _Connection:
        """Open a connection for a slot already counted in ``_open``; give the slot back on failure."""
        try:
            async with asyncio.timeout_at(deadline):
                _, conn = await loop.create_connection(
                    lambda: _Connection(loop),
                    self._host,
                    self._port,
                    ssl=self._ssl,
                    server_hostname=self._host if self._ssl else None,
                )
            return conn
        except TimeoutError:
            self._free_slot()
            raise SendFailed("ConnectTimeout", sent=False, detail="connecting took too long") from None
        except OSError as exc:  # refused, unreachable, DNS, TLS handshake or certificate
            self._free_slot()
            raise SendFailed("ConnectError", sent=False, detail=str(exc)) from None
        except BaseException:
            self._free_slot()
            raise

    async def _wait_for_turn(self, loop: asyncio.AbstractEventLoop, deadline: float) -> _Connection | None:
        """Queue until a connection (or a slot to open one) is handed over, at most until ``deadline``."""
        waiter: asyncio.Future[_Connection | None] = loop.create_future()
        self._waiters.append(waiter)
        timer = loop.call_at(deadline, _expire, waiter)
        try:
            return await waiter
        except BaseException:
            self._give_back(waiter)
            raise
        finally:
            timer.cancel()

    def _give_back(self, waiter: asyncio.Future[_Connection | None]) -> None:
        """A waiter gave up (cancelled) after something was handed to it: pass that on."""
        if not waiter.done() or waiter.cancelled() or waiter.exception() is not None:
            return
        granted = waiter.result()
        if granted is None:
            self._free_slot()
        else:
            self._release(granted, granted.idle_since)

    def _release(self, conn: _Connection, now: float) -> None:
        if not conn.alive or self._closed:
            self._forget(conn)
            return
        conn.idle_since = now
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        self._idle.append(conn)

    def _forget(self, conn: _Connection) -> None:
        conn.abort()
        self._free_slot()

    def _free_slot(self) -> None:
        """One connection fewer: the first live waiter gets the slot to open its own."""
        self._open -= 1
        waiters = self._waiters
        while waiters and not self._closed:
            waiter = waiters.popleft()
            if not waiter.done():
                self._open += 1
                waiter.set_result(None)
                return


def _host_header(host: str, port: int | None) -> str:
    name = f"[{host}]" if ":" in host else host
    return name if port is None else f"{name}:{port}"


def _encode_headers(headers: Mapping[str, str]) -> bytes:
    """The constant header block, encoded once; a name or value that could split a header is refused."""
    lines = []
    for name, value in headers.items():
        if not _TOKEN.fullmatch(name) or _UNSAFE_IN_VALUE.search(value):
            raise ValueError(f"header {name!r} cannot be sent as is")
        lines.append(f"{name}: {value}\r\n".encode("latin-1"))
    return b"".join(lines)
