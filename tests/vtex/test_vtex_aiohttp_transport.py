"""The production transport (aiohttp) over real sockets: keep-alive, framing, TLS trust, and every
failure named with whether the request may have been sent — the fact the client's retry rules rest on.

Every server here is a few lines of raw asyncio (``raw_http``) that misbehaves in one precise way.
"""

from __future__ import annotations

import asyncio
import gzip
import socket
import ssl
from collections.abc import Callable
from pathlib import Path

import pytest
from raw_http import Conn, RawServer, keep_answering, response

from orderbridge.vtex.transports import AiohttpTransport, HttpOptions, SendFailed

HEADERS = {"X-VTEX-API-AppKey": "key", "Accept": "application/json"}
ORDER = b'{"orderId": "1001-01"}'


def pool(server: RawServer, **options: float) -> AiohttpTransport:
    return AiohttpTransport(server.url, HEADERS, HttpOptions(**options))  # type: ignore[arg-type]


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(2.0):
        while not condition():  # noqa: ASYNC110 - the raw server's counters have no event
            await asyncio.sleep(0.005)


async def get(client: AiohttpTransport, target: str = "/o", timeout_s: float = 5.0) -> bytes:
    reply = await client.send("GET", target, None, timeout_s)
    assert reply.status == 200
    return reply.content


async def test_sequential_requests_share_one_kept_alive_connection() -> None:
    async with RawServer(keep_answering(response(body=ORDER))) as server:
        client = pool(server)
        bodies = [await get(client) for _ in range(3)]
        await client.aclose()

    assert bodies == [ORDER] * 3
    assert server.connections == 1


async def test_the_request_carries_host_the_constant_headers_and_a_length_only_with_a_body() -> None:
    async with RawServer(keep_answering(response())) as server:
        client = pool(server)
        await client.send("GET", "/api/x?a=1", None, 5.0)
        await client.send("POST", "/api/y", b'{"k":1}', 5.0)
        await client.send("POST", "/api/z", None, 5.0)
        await client.aclose()

    get_, post, empty_post = server.seen
    assert (get_.method, get_.target, get_.headers["host"]) == (
        "GET",
        "/api/x?a=1",
        f"127.0.0.1:{server.port}",
    )
    assert get_.headers["x-vtex-api-appkey"] == "key" and "content-length" not in get_.headers
    assert (post.method, post.body, post.headers["content-length"]) == ("POST", b'{"k":1}', "7")
    assert empty_post.headers["content-length"] == "0", "a POST without body still says so"


async def test_a_base_url_path_prefixes_every_target() -> None:
    async with RawServer(keep_answering(response())) as server:
        client = AiohttpTransport(server.url + "/proxy/", HEADERS)
        await client.send("GET", "/api/x", None, 5.0)
        await client.aclose()

    assert server.seen[0].target == "/proxy/api/x"


async def test_a_header_that_could_split_the_request_is_refused_before_anything_is_sent() -> None:
    async with RawServer(keep_answering(response())) as server:
        client = AiohttpTransport(server.url, {"X-Key": "value\r\nX-Injected: 1"})
        with pytest.raises(ValueError):
            await client.send("GET", "/o", None, 5.0)
        await client.aclose()

    assert server.seen == []


async def test_a_target_with_spaces_or_line_breaks_is_refused_before_anything_is_sent() -> None:
    async with RawServer(keep_answering(response())) as server:
        client = pool(server)
        with pytest.raises(ValueError):
            await client.send("GET", "/a b", None, 5.0)
        await client.aclose()

    assert server.connections == 0


async def test_a_chunked_gzip_body_trickling_in_is_decoded() -> None:
    packed = gzip.compress(ORDER * 20)
    chunks = [packed[i : i + 50] for i in range(0, len(packed), 50)]

    async def trickle(conn: Conn) -> None:
        while await conn.request() is not None:
            await conn.send(
                b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"
            )
            for chunk in chunks:
                await conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                await asyncio.sleep(0.001)
            await conn.send(b"0\r\n\r\n")

    async with RawServer(trickle) as server:
        client = pool(server)
        first, second = await get(client), await get(client)
        await client.aclose()

    assert first == second == ORDER * 20
    assert server.connections == 1, "a complete chunked body leaves the connection reusable"


async def test_a_head_response_announcing_a_length_has_no_body_and_keeps_the_connection() -> None:
    async with RawServer(keep_answering(b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n")) as server:
        client = pool(server)
        first = await client.send("HEAD", "/o", None, 2.0)
        second = await client.send("HEAD", "/o", None, 2.0)
        await client.aclose()

    assert (first.status, first.content, second.content) == (200, b"", b"")
    assert server.connections == 1


async def test_connection_close_is_obeyed_and_the_next_request_opens_a_new_connection() -> None:
    async def answer_once_and_close(conn: Conn) -> None:
        await conn.request()
        await conn.send(response(200, ORDER, "Connection: close"))
        # Deliberately no close from the server: the client must not wait for one, nor reuse this.

    async with RawServer(answer_once_and_close) as server:
        client = pool(server)
        bodies = [await get(client, timeout_s=2.0) for _ in range(2)]
        await client.aclose()

    assert bodies == [ORDER, ORDER]
    assert server.connections == 2


async def test_an_http10_body_without_length_is_read_until_the_server_closes() -> None:
    async def http10(conn: Conn) -> None:
        await conn.request()
        await conn.send(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + ORDER[:5])
        await asyncio.sleep(0.01)
        await conn.send(ORDER[5:])
        await conn.close()

    async with RawServer(http10) as server:
        client = pool(server)
        bodies = [await get(client, timeout_s=2.0) for _ in range(2)]
        await client.aclose()

    assert bodies == [ORDER, ORDER]
    assert server.connections == 2


async def test_an_idle_connection_the_server_closed_is_replaced_not_reused() -> None:
    async def answer_then_close_while_idle(conn: Conn) -> None:
        await conn.request()
        await conn.send(response(body=ORDER))  # announces keep-alive...
        await conn.close()  # ...then closes, like a server's keep-alive timeout

    async with RawServer(answer_then_close_while_idle) as server:
        client = pool(server)
        first = await get(client)
        await server.until_closed(1)
        await asyncio.sleep(0.05)  # the FIN reaches the client's loop, which marks the connection dead
        second = await get(client)  # on the dead connection this would fail
        await client.aclose()

    assert first == second == ORDER
    assert server.connections == 2


async def test_a_connection_idle_past_the_keepalive_time_is_not_reused() -> None:
    async with RawServer(keep_answering(response())) as server:
        client = pool(server, keepalive_s=0.0)
        await get(client)
        await get(client)
        await client.aclose()

    assert server.connections == 2


async def test_a_reset_mid_response_is_a_read_error_that_may_have_been_sent() -> None:
    async def reset_mid_body(conn: Conn) -> None:
        await conn.request()
        await conn.send(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"partial":')
        await asyncio.sleep(0.01)
        conn.reset()

    async with RawServer(reset_mid_body) as server:
        client = pool(server)
        with pytest.raises(SendFailed) as caught:
            await get(client)
        await client.aclose()

    assert (caught.value.kind, caught.value.sent) == ("ReadError", True)


async def test_eof_before_the_full_body_is_a_read_error_that_may_have_been_sent() -> None:
    async def close_mid_body(conn: Conn) -> None:
        await conn.request()
        await conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
        await conn.close()

    async with RawServer(close_mid_body) as server:
        client = pool(server)
        with pytest.raises(SendFailed) as caught:
            await get(client)
        await client.aclose()

    assert (caught.value.kind, caught.value.sent) == ("ReadError", True)


async def test_a_server_that_never_answers_times_out_as_sent() -> None:
    async def read_and_hang(conn: Conn) -> None:
        await conn.request()
        await asyncio.Event().wait()

    async with RawServer(read_and_hang) as server:
        client = pool(server)
        with pytest.raises(SendFailed) as caught:
            await get(client, timeout_s=0.2)
        await client.aclose()

    assert (caught.value.kind, caught.value.sent) == ("ReadTimeout", True)
    assert len(server.seen) == 1


async def test_a_refused_port_is_a_connect_error_never_sent() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = AiohttpTransport(f"http://127.0.0.1:{port}", HEADERS)

    with pytest.raises(SendFailed) as caught:
        await client.send("POST", "/invoice", b"{}", 2.0)
    await client.aclose()

    assert (caught.value.kind, caught.value.sent) == ("ConnectError", False)


@pytest.mark.parametrize(
    "answer",
    [b"garbage\r\n\r\n", b"HTTP/1.1 2OO OK\r\n\r\n", b"HTTP/1.1 200 OK\r\n" + b"X-Big: " + b"a" * 70_000],
    ids=["garbage", "bad-status", "headers-over-64KiB"],
)
async def test_a_malformed_answer_is_a_protocol_error_and_its_connection_is_dropped(answer: bytes) -> None:
    async def malformed_then_fine(conn: Conn) -> None:
        await conn.request()
        await conn.send(answer if conn.server.connections == 1 else response())
        await keep_answering(response())(conn)

    async with RawServer(malformed_then_fine) as server:
        client = pool(server)
        with pytest.raises(SendFailed) as caught:
            await get(client, timeout_s=2.0)
        recovered = await client.send("GET", "/o", None, 2.0)
        await client.aclose()

    assert (caught.value.kind, caught.value.sent) == ("RemoteProtocolError", True)
    assert recovered.status == 200 and server.connections == 2


async def test_bytes_nobody_asked_for_on_an_idle_connection_retire_it() -> None:
    async def answer_then_babble(conn: Conn) -> None:
        await conn.request()
        await conn.send(response())
        await asyncio.sleep(0.02)  # the client has the whole answer and idles: now the stray bytes
        await conn.send(b"unsolicited")
        await keep_answering(response())(conn)

    async with RawServer(answer_then_babble) as server:
        client = pool(server)
        await get(client)
        await asyncio.sleep(0.1)
        await get(client)
        await client.aclose()

    assert server.connections == 2


async def test_concurrent_requests_beyond_max_connections_wait_for_a_free_one() -> None:
    async def slow(conn: Conn) -> None:
        while await conn.request() is not None:
            await asyncio.sleep(0.02)
            await conn.send(response(body=ORDER))

    async with RawServer(slow) as server:
        client = pool(server, max_connections=2)
        bodies = await asyncio.gather(*(get(client) for _ in range(8)))
        await client.aclose()

    assert bodies == [ORDER] * 8
    assert server.connections == 2


async def test_no_connection_free_within_the_connect_timeout_is_a_connect_timeout_never_sent() -> None:
    async def hang(conn: Conn) -> None:
        await conn.request()
        await asyncio.Event().wait()

    async with RawServer(hang) as server:
        client = pool(server, max_connections=1, connect_timeout_s=0.1)
        busy = asyncio.create_task(client.send("GET", "/slow", None, 5.0))
        await until(lambda: len(server.seen) == 1)
        with pytest.raises(SendFailed) as caught:
            await client.send("POST", "/invoice", b"{}", 0.1)
        busy.cancel()
        await asyncio.gather(busy, return_exceptions=True)
        await client.aclose()

    assert (caught.value.kind, caught.value.sent) == ("ConnectTimeout", False)
    assert [s.target for s in server.seen] == ["/slow"]


async def test_a_cancelled_request_frees_its_connection_slot() -> None:
    answered = asyncio.Event()

    async def first_hangs_then_answer(conn: Conn) -> None:
        if conn.server.connections == 1:
            await conn.request()
            await asyncio.Event().wait()
        await keep_answering(response(body=ORDER))(conn)
        answered.set()

    async with RawServer(first_hangs_then_answer) as server:
        client = pool(server, max_connections=1)
        hung = asyncio.create_task(client.send("GET", "/hang", None, 5.0))
        await until(lambda: len(server.seen) == 1)  # the hung request holds the only connection
        waiting = asyncio.create_task(get(client))
        await asyncio.sleep(0.05)
        hung.cancel()
        body = await asyncio.wait_for(waiting, 2.0)
        await client.aclose()

    assert body == ORDER
    assert server.connections == 2, "the cancelled exchange's connection was closed, not reused"


async def test_a_closed_pool_closes_its_idle_connections_and_refuses_new_requests() -> None:
    async with RawServer(keep_answering(response())) as server:
        client = pool(server)
        await get(client)
        await client.aclose()
        await server.until_closed(1)

        with pytest.raises(RuntimeError):
            await get(client)

    assert server.connections == server.closed == 1


async def test_https_works_with_a_ca_bundle_that_trusts_the_server(
    tls_server_context: tuple[ssl.SSLContext, Path],
) -> None:
    server_context, cert = tls_server_context
    async with RawServer(keep_answering(response(body=ORDER)), ssl_context=server_context) as server:
        client = AiohttpTransport(server.url, HEADERS, HttpOptions(ca_bundle=cert))
        bodies = [await get(client) for _ in range(2)]
        await client.aclose()

    assert bodies == [ORDER, ORDER]
    assert server.connections == 1


async def test_https_trusts_the_bundle_named_by_ssl_cert_file(
    tls_server_context: tuple[ssl.SSLContext, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    server_context, cert = tls_server_context
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    async with RawServer(keep_answering(response(body=ORDER)), ssl_context=server_context) as server:
        client = AiohttpTransport(server.url, HEADERS)
        body = await get(client)
        await client.aclose()

    assert body == ORDER


async def test_https_to_an_untrusted_certificate_fails_before_sending(
    tls_server_context: tuple[ssl.SSLContext, Path],
) -> None:
    server_context, _ = tls_server_context
    async with RawServer(keep_answering(response()), ssl_context=server_context) as server:
        client = AiohttpTransport(server.url, HEADERS)  # the system's store: the throwaway CA is not in it
        with pytest.raises(SendFailed) as caught:
            await get(client)
        await client.aclose()

    assert (caught.value.kind, caught.value.sent) == ("ConnectError", False)
    assert server.seen == []


async def test_a_redirect_is_not_followed_so_the_auth_headers_stay_with_vtex() -> None:
    redirect = response(302, b"", "Location: http://elsewhere.invalid/steal")
    async with RawServer(keep_answering(redirect)) as server:
        client = pool(server)
        reply = await client.send("GET", "/o", None, 2.0)
        await client.aclose()

    assert reply.status == 302
    assert len(server.seen) == 1


async def test_an_already_encoded_target_goes_on_the_wire_unchanged() -> None:
    async with RawServer(keep_answering(response())) as server:
        client = pool(server)
        await client.send("GET", "/api/orders/a%2Fb%20c?f=x%26y", None, 2.0)
        await client.aclose()

    assert server.seen[0].target == "/api/orders/a%2Fb%20c?f=x%26y"
