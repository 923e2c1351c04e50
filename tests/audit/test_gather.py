"""Reading ground truth from the sandbox: a watcher that polls for an hour survives a dropped connection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from orderbridge.audit.gather import read_vtex
from orderbridge.sandbox.config import SandboxAccount, SandboxConfig
from orderbridge.sandbox.testing import SandboxServer, sandbox_client

LEDGER = b'{"orders": {"o1": {"status": "invoiced"}}, "feed_depth": 3}'


@asynccontextmanager
async def drops_connections(drops: int) -> AsyncIterator[tuple[str, list[str]]]:
    """A server on loopback that reads the first `drops` requests and closes each connection without a
    word, then answers every later request with a ledger. Yields its URL and what happened per
    connection."""
    happened: list[str] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        if len(happened) < drops:
            happened.append("dropped")
        else:
            happened.append("answered")
            head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(LEDGER)}\r\n"
            writer.write(head.encode() + b"Connection: close\r\n\r\n" + LEDGER)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}", happened


async def test_a_dropped_connection_while_reading_the_ledger_is_retried_not_fatal() -> None:
    """A chaos run polls the sandbox for an hour; one connection closed under it must not end the run."""
    # Two drops: aiohttp itself sends a GET again once after a disconnect (RFC 9112 §9.3.1.1), so the
    # second one is the watcher's own retry.
    async with drops_connections(2) as (url, happened), sandbox_client(url, timeout_s=5.0) as client:
        orders, feed_depth = await read_vtex(client)

    assert (happened, orders["o1"].status, feed_depth) == (["dropped", "dropped", "answered"], "invoiced", 3)


async def test_the_ledger_of_one_account_of_a_sandbox_serving_several_holds_only_its_orders() -> None:
    config = SandboxConfig(more_accounts=(SandboxAccount("otherstore", "key-o", "token-o"),))
    async with SandboxServer(config) as server, sandbox_client(server.base_url, timeout_s=5.0) as client:
        mine = (await client.post("/_sandbox/orders", json={"count": 1})).json()["orderIds"]
        created = await client.post("/_sandbox/orders", params={"account": "otherstore"}, json={"count": 2})
        theirs = created.json()["orderIds"]

        default, _ = await read_vtex(client)
        other, _ = await read_vtex(client, "otherstore")

    assert sorted(default) == sorted(mine)
    assert sorted(other) == sorted(theirs)
