"""The pooled transport under the VTEX client: idle connections the server closed are never reused."""

from __future__ import annotations

import asyncio
import socket

import httpx2

from orderbridge.vtex.pool import PooledTransport, is_readable

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


async def test_a_connection_the_server_closed_while_idle_is_replaced_not_reused() -> None:
    closed = asyncio.Event()

    async def one_answer_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answers as if keeping the connection alive, then closes it (like a keep-alive timeout)."""
        await reader.readuntil(b"\r\n\r\n")
        writer.write(RESPONSE)
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        closed.set()

    server = await asyncio.start_server(one_answer_then_close, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, httpx2.AsyncClient(transport=PooledTransport(max_connections=4, http2=False)) as http:
        first = await http.get(f"http://127.0.0.1:{port}/a")
        await asyncio.wait_for(closed.wait(), 5)
        second = await http.get(f"http://127.0.0.1:{port}/b")  # on the dead connection it would fail
    assert (first.status_code, second.status_code) == (200, 200)


def test_a_socket_is_readable_once_its_peer_closed_it_and_not_before() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        assert not is_readable(ours)
        theirs.close()
        assert is_readable(ours)
