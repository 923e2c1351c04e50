"""The sandbox over real HTTP: uvicorn in a thread (SandboxServer) and `orderbridge sandbox` as a
subprocess. These are the paths other rooms' tests and benches use."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from orderbridge.sandbox.testing import BackgroundServer, SandboxServer, sandbox_subprocess

from .conftest import AUTH, make_config


def test_a_client_only_swaps_the_host_for_the_feed_and_start_handling() -> None:
    with (
        SandboxServer(make_config(seed_orders=3)) as server,
        httpx2.Client(base_url=server.base_url, headers=AUTH) as client,
    ):
        items = client.get("/api/orders/feed", params={"maxlot": "10"}).json()
        assert len(items) == 3
        order_id = items[0]["orderId"]
        order = client.get(f"/api/oms/pvt/orders/{order_id}").json()
        assert order["status"] == "ready-for-handling"
        assert (
            client.post("/api/orders/feed", json={"handles": [i["handle"] for i in items]}).status_code == 200
        )
        assert client.post(f"/api/oms/pvt/orders/{order_id}/start-handling").status_code == 204
        second = client.post(f"/api/oms/pvt/orders/{order_id}/start-handling")
        assert second.status_code == 409 and second.json()["error"]["code"] == "OMS003"
        assert server.oms.stats.start_handling[order_id] == 1


def test_unknown_route_and_wrong_verb_answer_in_vtex_shape() -> None:
    with (
        SandboxServer(make_config()) as server,
        httpx2.Client(base_url=server.base_url, headers=AUTH) as client,
    ):
        assert client.get("/api/nothing-here").json()["error"]["code"] == "1"
        wrong = client.delete("/api/oms/pvt/orders/1-01")
        assert wrong.status_code == 405 and "DELETE" in wrong.json()["error"]["message"]


def test_rate_limit_sends_retry_after_over_http() -> None:
    with (
        SandboxServer(make_config(seed_orders=1)) as server,
        httpx2.Client(base_url=server.base_url, headers=AUTH) as client,
    ):
        order_id = client.get("/api/orders/feed?maxlot=1").json()[0]["orderId"]
        faults = {"endpoints": {"get_order": {"rate_limit_per_minute": 2}}}
        assert client.put("/_sandbox/faults", json=faults).status_code == 200
        codes = [client.get(f"/api/oms/pvt/orders/{order_id}") for _ in range(3)]
        assert [c.status_code for c in codes] == [200, 200, 429]
        assert int(codes[2].headers["retry-after"]) >= 1


def test_a_client_with_a_shorter_timeout_sees_a_timeout() -> None:
    with (
        SandboxServer(make_config()) as server,
        httpx2.Client(base_url=server.base_url, headers=AUTH) as client,
    ):
        faults = {"endpoints": {"feed_read": {"ratio_timeout": 1.0, "timeout_s": 0.6}}}
        assert client.put("/_sandbox/faults", json=faults).status_code == 200
        with pytest.raises(httpx2.TimeoutException):
            client.get("/api/orders/feed?maxlot=1", timeout=0.2)


async def test_hook_is_delivered_over_real_http_with_its_headers() -> None:
    received: list[tuple[dict[str, Any], str | None]] = []

    async def hook(request: Request) -> Response:
        body = await request.json()
        received.append((body, request.headers.get("x-erp-secret")))
        return Response(status_code=200)

    receiver = BackgroundServer(Starlette(routes=[Route("/hook", hook, methods=["POST"])]))
    async with (
        receiver,
        SandboxServer(make_config()) as server,
        httpx2.AsyncClient(base_url=server.base_url, headers=AUTH) as client,
    ):
        config = {
            "filter": {"type": "FromWorkflow", "status": ["ready-for-handling"]},
            "hook": {"url": f"{receiver.base_url}/hook", "headers": {"X-Erp-Secret": "s3"}},
        }
        assert (await client.post("/api/orders/hook/config", json=config)).status_code == 200
        order_id = (await client.post("/_sandbox/orders", json={"count": 1})).json()["orderIds"][0]
        for _ in range(50):  # the ticker delivers too; asking makes it deterministic. Bounded.
            await client.post("/_sandbox/hooks/deliver")
            if len(received) == 2:
                break
            await asyncio.sleep(0.02)
    assert received[0] == ({"hookConfig": "ping"}, "s3")
    assert received[1][0]["OrderId"] == order_id and received[1][1] == "s3"


@pytest.mark.slow
def test_orderbridge_sandbox_command_serves_seeded_orders() -> None:
    with (
        sandbox_subprocess(seed_orders=2, app_key="k1", app_token="t1") as base_url,
        httpx2.Client(
            base_url=base_url, headers={"X-VTEX-API-AppKey": "k1", "X-VTEX-API-AppToken": "t1"}
        ) as client,
    ):
        items = client.get("/api/orders/feed?maxlot=10").json()
        assert [i["state"] for i in items] == ["ready-for-handling"] * 2
        assert client.get(f"/api/oms/pvt/orders/{items[0]['orderId']}").status_code == 200
        assert client.get("/_sandbox/stats").json()["orders_total"] == 2


@pytest.mark.slow
def test_sandbox_subprocess_reports_why_the_command_failed() -> None:
    with pytest.raises(RuntimeError, match="chaos"), sandbox_subprocess(faults="chaos"):
        pass  # pragma: no cover - never reached: the command refuses an unknown fault profile
