"""Hook: ping on save, PascalCase deliveries with the configured headers, retries with growing delays."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from orderbridge.sandbox.filters import parse_filter
from orderbridge.sandbox.hook import HookConfig, HookDispatcher
from orderbridge.sandbox.testing import BackgroundServer

from .conftest import AUTH, Sandbox, make_config, open_sandbox


class Receiver:
    """A fake hook endpoint: records calls, fails the first `fail_first` notifications."""

    def __init__(self, ping_status: int = 200, fail_first: int = 0) -> None:
        self.ping_status, self.fail_first = ping_status, fail_first
        self.calls: list[tuple[dict[str, Any], httpx2.Headers]] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        self.calls.append((body, request.headers))
        if body == {"hookConfig": "ping"}:
            return httpx2.Response(self.ping_status)
        if self.fail_first > 0:
            self.fail_first -= 1
            return httpx2.Response(503)
        return httpx2.Response(200)

    @property
    def notifications(self) -> list[dict[str, Any]]:
        return [body for body, _ in self.calls if body != {"hookConfig": "ping"}]


def hook_body(statuses: list[str]) -> dict[str, Any]:
    return {
        "filter": {"type": "FromWorkflow", "status": statuses},
        "hook": {"url": "https://erp.example/hook", "headers": {"X-Erp-Secret": "s3"}},
    }


async def with_receiver(receiver: Receiver, **config: Any) -> tuple[Sandbox, httpx2.AsyncClient]:
    client, oms = await open_sandbox(make_config(**config), hook_transport=httpx2.MockTransport(receiver))
    return Sandbox(client, oms), client


async def test_hook_config_is_refused_when_the_ping_is_not_answered_200() -> None:
    receiver = Receiver(ping_status=500)
    sandbox, client = await with_receiver(receiver)
    async with client:
        response = await sandbox.post("/api/orders/hook/config", hook_body(["handling"]))
        assert response.status_code == 400
        assert (await client.get("/api/orders/hook/config", headers=AUTH)).status_code == 404
    assert receiver.calls[0][0] == {"hookConfig": "ping"}
    assert receiver.calls[0][1]["x-erp-secret"] == "s3"


async def test_hook_delivers_pascal_case_notifications_with_the_configured_headers() -> None:
    receiver = Receiver()
    sandbox, client = await with_receiver(receiver)
    async with client:
        assert (await sandbox.post("/api/orders/hook/config", hook_body(["handling"]))).status_code == 200
        saved = (await client.get("/api/orders/hook/config", headers=AUTH)).json()
        assert saved["hook"]["url"] == "https://erp.example/hook"
        order_id = await sandbox.handling()
        await sandbox.advance(0)
    [note] = receiver.notifications
    assert (
        note["OrderId"] == order_id and note["State"] == "handling" and note["LastState"] == "start-handling"
    )
    assert note["Origin"] == {"Account": "testaccount", "Key": AUTH["X-VTEX-API-AppKey"]}
    assert set(note) == {"Domain", "OrderId", "State", "LastState", "LastChange", "CurrentChange", "Origin"}
    assert receiver.calls[-1][1]["x-erp-secret"] == "s3"


async def test_failed_hook_deliveries_are_retried_with_growing_delays() -> None:
    receiver = Receiver(fail_first=3)
    sandbox, client = await with_receiver(receiver, hook_retry_base_s=10, hook_retry_factor=2)
    async with client:
        await sandbox.post("/api/orders/hook/config", hook_body(["ready-for-handling"]))
        await sandbox.orders(1)
        await sandbox.advance(0)  # attempt 1 fails; next in 10 s
        await sandbox.advance(9)
        assert len(receiver.calls) == 2
        await sandbox.advance(1)  # attempt 2 fails; next in 20 s
        assert len(receiver.calls) == 3
        await sandbox.advance(19)
        assert len(receiver.calls) == 3
        await sandbox.advance(1)  # attempt 3 fails; next in 40 s
        await sandbox.advance(40)  # attempt 4 succeeds
        stats = (await sandbox.stats())["hooks"]
    assert len(receiver.notifications) == 4
    assert stats == {"pending": 0, "delivered": 1, "failed_attempts": 3, "dropped": 0}


async def test_a_hook_delivery_is_dropped_after_the_maximum_attempts() -> None:
    receiver = Receiver(fail_first=100)
    sandbox, client = await with_receiver(
        receiver, hook_retry_base_s=1, hook_retry_factor=1, hook_max_attempts=3
    )
    async with client:
        await sandbox.post("/api/orders/hook/config", hook_body(["ready-for-handling"]))
        await sandbox.orders(1)
        for _ in range(5):
            await sandbox.advance(1)
        stats = (await sandbox.stats())["hooks"]
    assert len(receiver.notifications) == 3 and stats["dropped"] == 1


async def test_hook_config_delete_stops_deliveries() -> None:
    receiver = Receiver()
    sandbox, client = await with_receiver(receiver)
    async with client:
        await sandbox.post("/api/orders/hook/config", hook_body(["ready-for-handling"]))
        assert (await client.delete("/api/orders/hook/config", headers=AUTH)).status_code == 200
        await sandbox.orders(1)
        await sandbox.advance(1)
        assert (await client.delete("/api/orders/hook/config", headers=AUTH)).status_code == 404
    assert receiver.notifications == []


async def test_hook_config_needs_a_url(sandbox: Sandbox) -> None:
    response = await sandbox.post("/api/orders/hook/config", {"filter": {"type": "FromWorkflow"}, "hook": {}})
    assert response.status_code == 400


async def test_hook_config_is_removed_after_three_days_without_notifications() -> None:
    receiver = Receiver()
    sandbox, client = await with_receiver(receiver)
    async with client:
        await sandbox.post("/api/orders/hook/config", hook_body(["ready-for-handling"]))
        await sandbox.advance(200000)
        await sandbox.orders(1)  # a notification keeps it alive
        await sandbox.advance(200000)
        assert (await client.get("/api/orders/hook/config", headers=AUTH)).status_code == 200
        await sandbox.advance(60000)
        assert (await client.get("/api/orders/hook/config", headers=AUTH)).status_code == 404


async def test_the_hook_goes_over_real_http_and_a_dead_receiver_is_a_failed_attempt() -> None:
    """The production path: aiohttp to a receiver served by uvicorn on loopback."""
    seen: list[tuple[dict[str, Any], str]] = []

    async def receive(request: Request) -> Response:
        seen.append((await request.json(), request.headers["x-erp-secret"]))
        return Response(status_code=200)

    dispatcher = HookDispatcher(base_s=1, factor=2, max_attempts=3, timeout_s=2)
    receiver = Starlette(routes=[Route("/hook", receive, methods=["POST"])])
    try:
        async with BackgroundServer(receiver) as server:
            url = f"{server.base_url}/hook"
            assert await dispatcher.ping(url, {"X-Erp-Secret": "s3"})
            hooks = {"key": HookConfig(parse_filter(None), url, {"X-Erp-Secret": "s3"}, 0.0)}
            dispatcher.enqueue("key", {"OrderId": "1-01"}, now=0.0)
            assert await dispatcher.deliver_due(0.0, hooks) == 1
        assert not await dispatcher.ping(url, {}), "the receiver is gone"
    finally:
        await dispatcher.close()

    assert seen == [({"hookConfig": "ping"}, "s3"), ({"OrderId": "1-01"}, "s3")]


async def test_a_hook_waiting_for_its_answer_does_not_hold_back_the_next_orders_hook() -> None:
    """VTEX does not keep one notification until the receiver answered another: a receiver slow to
    answer (storing the first before its 200) still gets the second at once."""
    second_arrived = asyncio.Event()

    async def receive(request: httpx2.Request) -> httpx2.Response:
        if json.loads(request.content)["OrderId"] == "2-01":
            second_arrived.set()
            return httpx2.Response(200)
        await asyncio.wait_for(second_arrived.wait(), 1.0)  # the first answers only after the second came
        return httpx2.Response(200)

    dispatcher = HookDispatcher(
        base_s=1, factor=2, max_attempts=3, timeout_s=5, transport=httpx2.MockTransport(receive)
    )
    hooks = {"key": HookConfig(parse_filter(None), "https://erp.example/hook", {}, 0.0)}
    try:
        dispatcher.enqueue("key", {"OrderId": "1-01"}, now=0.0)
        first = asyncio.create_task(dispatcher.deliver_due(0.0, hooks))
        await asyncio.sleep(0.05)  # the first is on its way, unanswered
        dispatcher.enqueue("key", {"OrderId": "2-01"}, now=1.0)
        second = await dispatcher.deliver_due(1.0, hooks)

        assert (second, await first) == (1, 1)
        assert dispatcher.counters.failed_attempts == 0
    finally:
        await dispatcher.close()
