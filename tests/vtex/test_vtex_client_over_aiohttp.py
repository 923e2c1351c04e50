"""`VtexClient` on its production transport, aiohttp: the client's retry rules hold over real sockets —
never-sent failures are retried whatever the method, possibly-sent ones are not for a POST."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
import structlog
from raw_http import Conn, RawServer, keep_answering, response
from vtex_stub import APP_KEY, APP_TOKEN

from orderbridge.sandbox.config import SandboxConfig
from orderbridge.sandbox.testing import SandboxServer
from orderbridge.vtex import RetryPolicy, Unavailable, VtexClient
from orderbridge.vtex.transports import AiohttpTransport

START = "/api/oms/pvt/orders/1001-01/start-handling"
ORDER = "/api/oms/pvt/orders/1001-01"
ORDER_JSON = b'{"orderId": "1001-01", "status": "handling"}'


def client(base_url: str, **options: Any) -> VtexClient:
    options.setdefault("retry", RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=0.01))
    return VtexClient(
        "stubstore", APP_KEY, APP_TOKEN, base_url=base_url, get_order_per_minute=None, **options
    )


async def first_answered_then_dropped(conn: Conn) -> None:
    """The first request is answered (keep-alive); the next is read, then the connection closed."""
    await conn.request()
    await conn.send(response(200, ORDER_JSON))
    if await conn.request() is not None:
        await conn.close()


async def answer_fresh_connections_only(conn: Conn) -> None:
    if conn.server.connections == 1:
        await first_answered_then_dropped(conn)
    else:
        await keep_answering(response(200, ORDER_JSON))(conn)


async def test_a_post_on_a_reused_connection_that_dies_before_answering_may_have_landed() -> None:
    async with RawServer(answer_fresh_connections_only) as server, client(server.url) as vtex:
        await vtex.get_order("1001-01")  # leaves a kept-alive connection
        with pytest.raises(Unavailable) as caught:
            await vtex.start_handling("1001-01")

    assert caught.value.may_have_landed is True
    assert [s.method for s in server.seen] == ["GET", "POST"], "the POST was not sent twice"


async def test_a_get_on_a_reused_connection_that_dies_before_answering_is_retried() -> None:
    async with RawServer(answer_fresh_connections_only) as server, client(server.url) as vtex:
        await vtex.get_order("1001-01")
        order = await vtex.get_order("1001-01")

    assert order.order_id == "1001-01"
    assert [s.method for s in server.seen] == ["GET", "GET", "GET"]


async def test_a_post_refused_at_connect_is_retried_and_lands_once() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = RawServer(keep_answering(response(204, b"")))

    async def open_the_port_then_sleep(seconds: float) -> None:
        if not server.port:
            await server.start(port)  # VTEX "comes back" during the backoff

    try:
        async with client(f"http://127.0.0.1:{port}", sleep=open_the_port_then_sleep) as vtex:
            with structlog.testing.capture_logs() as events:
                await vtex.start_handling("1001-01")
    finally:
        await server.stop()

    assert [(e["status"], e.get("error")) for e in events] == [(None, "ConnectError"), (204, None)]
    assert [(s.method, s.target) for s in server.seen] == [("POST", START)]


async def test_a_start_handling_left_unanswered_times_out_once_and_may_have_landed() -> None:
    async def read_and_hang(conn: Conn) -> None:
        await conn.request()
        await asyncio.Event().wait()

    async with RawServer(read_and_hang) as server, client(server.url, timeout_s=0.2) as vtex:
        with structlog.testing.capture_logs() as events, pytest.raises(Unavailable) as caught:
            await vtex.start_handling("1001-01")

    assert caught.value.may_have_landed is True
    assert [e.get("error") for e in events] == ["ReadTimeout"]
    assert len(server.seen) == 1


async def test_an_invoice_reset_mid_answer_is_not_resent() -> None:
    async def reset_mid_answer(conn: Conn) -> None:
        await conn.request()
        await conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{")
        await asyncio.sleep(0.01)
        conn.reset()

    async with RawServer(reset_mid_answer) as server, client(server.url) as vtex:
        with pytest.raises(Unavailable) as caught:
            await vtex.cancel_order("1001-01", "stock")

    assert (caught.value.may_have_landed, caught.value.message) == (True, "ReadError")
    assert len(server.seen) == 1


async def test_a_429_retry_after_is_read_from_aiohttps_reply() -> None:
    answers = keep_answering(response(429, b"", "Retry-After: 1"), response(200, ORDER_JSON))
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    async with RawServer(answers) as server, client(server.url, sleep=record) as vtex:
        order = await vtex.get_order("1001-01")

    assert order.status == "handling"
    assert waits == [1.0]


def test_the_default_transport_is_aiohttp() -> None:
    vtex = client("http://127.0.0.1:1")

    assert isinstance(vtex._http._transport, AiohttpTransport)


async def test_reads_feed_and_orders_from_the_sandbox_over_real_http() -> None:
    config = SandboxConfig(account_name="stubstore", app_key=APP_KEY, app_token=APP_TOKEN, seed_orders=3)
    async with SandboxServer(config) as server, client(server.base_url) as vtex:
        events = await vtex.read_feed(maxlot=3)
        orders = await asyncio.gather(*(vtex.get_order(e.order_id) for e in events))
        await vtex.commit_feed([e.handle for e in events])

    assert len(orders) == 3
    assert [o.order_id for o in orders] == [e.order_id for e in events]
