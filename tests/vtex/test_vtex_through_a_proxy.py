"""VTEX traffic through a real forward proxy (proxy.py, a maintained one, run as a subprocess on
loopback, tests/forward_proxy.py), configured only by ``HTTP_PROXY``/``HTTPS_PROXY``: plain forwarding
for http://, a CONNECT tunnel for https://. The proxy's access log says what passed through it (one line
per connection)."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from raw_http import RawServer, keep_answering, response
from vtex_stub import APP_KEY, APP_TOKEN

from forward_proxy import Proxy
from orderbridge.sandbox.config import SandboxConfig
from orderbridge.sandbox.testing import SandboxServer, free_port
from orderbridge.vtex import RetryPolicy, Unavailable, VtexClient

ORDER_JSON = b'{"orderId": "1001-01", "status": "handling"}'


def client(base_url: str, **options: object) -> VtexClient:
    return VtexClient(
        "stubstore",
        APP_KEY,
        APP_TOKEN,
        base_url=base_url,
        get_order_per_minute=None,
        retry=RetryPolicy(attempts=2, base_delay_s=0.01, max_delay_s=0.01),
        **options,  # type: ignore[arg-type]
    )


async def test_plain_http_vtex_calls_are_forwarded_by_the_proxy_named_in_http_proxy(
    forward_proxy: Proxy, proxy_free_env: pytest.MonkeyPatch
) -> None:
    config = SandboxConfig(account_name="stubstore", app_key=APP_KEY, app_token=APP_TOKEN, seed_orders=1)
    async with SandboxServer(config) as server:
        proxy_free_env.setenv("HTTP_PROXY", forward_proxy.url)
        async with client(server.base_url) as vtex:
            [event] = await vtex.read_feed()
            order = await vtex.get_order(event.order_id)

    assert order.order_id == event.order_id
    # proxy.py logs a kept-alive connection once, with its first request: the feed read.
    host = server.base_url.removeprefix("http://")
    assert forward_proxy.access_lines(f"GET {host}/api/orders/feed")


async def test_https_vtex_calls_go_through_a_connect_tunnel_named_in_https_proxy(
    forward_proxy: Proxy,
    proxy_free_env: pytest.MonkeyPatch,
    tls_server_context: tuple[ssl.SSLContext, Path],
) -> None:
    server_context, cert = tls_server_context
    async with RawServer(keep_answering(response(200, ORDER_JSON)), ssl_context=server_context) as server:
        proxy_free_env.setenv("HTTPS_PROXY", forward_proxy.url)
        async with client(server.url, ca_bundle=cert) as vtex:
            order = await vtex.get_order("1001-01")
            await vtex.get_order("1001-01")

    assert order.status == "handling"
    assert [(s.method, s.target) for s in server.seen] == [("GET", "/api/oms/pvt/orders/1001-01")] * 2
    tunnels = forward_proxy.access_lines(f"CONNECT 127.0.0.1:{server.port}")
    assert len(tunnels) == 1, "one tunnel, kept alive for both calls"


async def test_no_proxy_sends_the_host_it_names_direct(proxy_free_env: pytest.MonkeyPatch) -> None:
    proxy_free_env.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    proxy_free_env.setenv("NO_PROXY", "127.0.0.1")
    async with RawServer(keep_answering(response(200, ORDER_JSON))) as server, client(server.url) as vtex:
        order = await vtex.get_order("1001-01")

    assert order.order_id == "1001-01"


async def test_an_unreachable_proxy_fails_a_post_as_never_sent(proxy_free_env: pytest.MonkeyPatch) -> None:
    proxy_free_env.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    async with RawServer(keep_answering(response(204, b""))) as server, client(server.url) as vtex:
        with pytest.raises(Unavailable) as caught:
            await vtex.start_handling("1001-01")

    assert caught.value.may_have_landed is False
    assert server.seen == []
