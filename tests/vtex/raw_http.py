"""Hand-written HTTP/1.1 servers for the lean client's tests: each misbehaves in one precise way.

``RawServer(handler)`` listens on 127.0.0.1 and runs ``handler(conn)`` per connection; it counts
connections and records every request it read, so tests can say what reached "VTEX".
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self


@dataclass
class Seen:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Conn:
    """One accepted connection, with helpers to read requests and write raw bytes."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    server: RawServer

    async def request(self) -> Seen | None:
        """The next request on this connection, or None once the client closed it."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        line, *fields = head[:-4].decode("latin-1").split("\r\n")
        method, target, _ = line.split(" ")
        headers = {name.lower(): value.strip() for name, value in (f.split(":", 1) for f in fields)}
        body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        seen = Seen(method, target, headers, body)
        self.server.seen.append(seen)
        return seen

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()

    def reset(self) -> None:
        """Close with a TCP RST instead of a FIN: the client sees "connection reset"."""
        sock: socket.socket = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()


Handler = Callable[[Conn], Awaitable[None]]


@dataclass
class RawServer:
    handler: Handler
    ssl_context: ssl.SSLContext | None = None
    connections: int = 0
    closed: int = 0
    seen: list[Seen] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    async def start(self, port: int = 0) -> Self:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", port, ssl=self.ssl_context)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self.handler(Conn(reader, writer, self))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.closed += 1
            self._tasks.discard(task)
            writer.close()
            async with self._changed:
                self._changed.notify_all()

    async def until_closed(self, count: int) -> None:
        """Wait until ``count`` connections have ended on the server's side."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: self.closed >= count), 5.0)

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        # Handlers that never finish on their own (servers that never answer) end with the test.
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()


def response(status: int = 200, body: bytes = b"{}", *headers: str) -> bytes:
    """A plain keep-alive response with a Content-Length."""
    head = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", *headers]
    return "\r\n".join(head).encode() + b"\r\n\r\n" + body


def keep_answering(*answers: bytes) -> Handler:
    """Answer every request on the connection, with ``answers`` in turn (the last one repeats)."""

    async def handler(conn: Conn) -> None:
        count = 0
        while await conn.request() is not None:
            await conn.send(answers[min(count, len(answers) - 1)])
            count += 1

    return handler
