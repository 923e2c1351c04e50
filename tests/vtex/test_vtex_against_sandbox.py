"""The issue's proof, against the sandbox: once in-process (ASGI) and once over real HTTP (uvicorn).

Faults are switched on through ``/_sandbox/faults``; the client's ``sleep`` hook switches them off
again before it waits, so "fails once, then succeeds" is deterministic without mocking anything.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx2
import pytest
import structlog
from vtex_stub import APP_KEY, APP_TOKEN

from orderbridge.sandbox.app import create_app
from orderbridge.sandbox.config import SandboxConfig
from orderbridge.sandbox.testing import SandboxServer
from orderbridge.vtex import (
    AuthError,
    Conflict,
    FeedItem,
    Invoice,
    InvoiceItem,
    NotFound,
    Order,
    RateLimited,
    RetryPolicy,
    TrackingEvents,
    TrackingNumberPatch,
    Unavailable,
    VtexClient,
)

ACCOUNT = "obstore"
WRONG_TOKEN = "WRONG-token-also-secret-987654"


class ClearFaultsThenSleep:
    """The client's sleep: record the wait, lift every fault, then really wait."""

    def __init__(self, admin: httpx2.AsyncClient) -> None:
        self.admin = admin
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        response = await self.admin.put("/_sandbox/faults", json={})
        response.raise_for_status()
        await asyncio.sleep(seconds)


@dataclass
class Sandbox:
    base_url: str
    admin: httpx2.AsyncClient
    in_process_app: Any

    def client(self, sleep: Any = None, app_token: str = APP_TOKEN, **options: Any) -> VtexClient:
        transport = httpx2.ASGITransport(self.in_process_app) if self.in_process_app is not None else None
        return VtexClient(
            ACCOUNT,
            APP_KEY,
            app_token,
            base_url=self.base_url,
            transport=transport,
            retry=RetryPolicy(base_delay_s=0.05, max_delay_s=0.2),
            **({"sleep": sleep} if sleep is not None else {}),
            **options,
        )

    async def faults(self, endpoint: str, **settings: float) -> None:
        response = await self.admin.put("/_sandbox/faults", json={"endpoints": {endpoint: settings}})
        response.raise_for_status()

    async def calls(self, endpoint: str) -> dict[str, int]:
        stats = (await self.admin.get("/_sandbox/stats")).json()
        calls: dict[str, int] = stats["calls"].get(endpoint, {})
        return calls

    async def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = (await self.admin.get("/_sandbox/stats")).json()
        return stats


@pytest.fixture(params=["in-process", "real-http"])
async def sandbox(request: pytest.FixtureRequest) -> AsyncIterator[Sandbox]:
    config = SandboxConfig(account_name=ACCOUNT, app_key=APP_KEY, app_token=APP_TOKEN, seed_orders=2)
    if request.param == "in-process":
        app = create_app(config)
        transport = httpx2.ASGITransport(app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://sandbox") as admin:
            yield Sandbox("http://sandbox", admin, app)
    else:
        async with SandboxServer(config) as server, httpx2.AsyncClient(base_url=server.base_url) as admin:
            yield Sandbox(server.base_url, admin, None)


async def first_order(vtex: VtexClient) -> FeedItem:
    items = await vtex.read_feed()
    assert items, "the seeded sandbox has ready-for-handling events"
    return items[0]


async def test_a_429_with_retry_after_2_waits_about_two_seconds_and_succeeds(sandbox: Sandbox) -> None:
    sleep = ClearFaultsThenSleep(sandbox.admin)
    async with sandbox.client(sleep=sleep) as vtex:
        event = await first_order(vtex)
        await sandbox.faults("get_order", ratio_429=1.0, retry_after_s=2)

        started = time.monotonic()
        order = await vtex.get_order(event.order_id)
        elapsed = time.monotonic() - started

    assert order.order_id == event.order_id
    assert sleep.calls == [2.0]
    assert 1.9 <= elapsed < 10.0
    assert await sandbox.calls("get_order") == {"429": 1, "200": 1}


async def test_a_long_retry_after_raises_rate_limited_at_once(sandbox: Sandbox) -> None:
    sleep = ClearFaultsThenSleep(sandbox.admin)
    async with sandbox.client(sleep=sleep) as vtex:
        event = await first_order(vtex)
        await sandbox.faults("get_order", ratio_429=1.0, retry_after_s=45)

        with pytest.raises(RateLimited) as caught:
            await vtex.get_order(event.order_id)

    assert caught.value.retry_after == 45.0
    assert sleep.calls == []
    assert await sandbox.calls("get_order") == {"429": 1}


async def test_a_500_on_get_order_is_retried(sandbox: Sandbox) -> None:
    sleep = ClearFaultsThenSleep(sandbox.admin)
    async with sandbox.client(sleep=sleep) as vtex:
        event = await first_order(vtex)
        await sandbox.faults("get_order", ratio_5xx=1.0)

        order = await vtex.get_order(event.order_id)

    assert order.status == "ready-for-handling"
    assert len(sleep.calls) == 1
    calls = await sandbox.calls("get_order")
    assert calls.pop("200") == 1
    assert len(calls) == 1 and next(iter(calls)).startswith("5") and sum(calls.values()) == 1


async def test_a_500_on_invoice_is_not_retried_and_says_it_may_have_landed(sandbox: Sandbox) -> None:
    sleep = ClearFaultsThenSleep(sandbox.admin)
    async with sandbox.client(sleep=sleep) as vtex:
        event = await first_order(vtex)
        await vtex.start_handling(event.order_id)
        order = await vtex.get_order(event.order_id)
        await sandbox.faults("invoice", ratio_5xx=1.0)

        with pytest.raises(Unavailable) as caught:
            await vtex.send_invoice(event.order_id, full_invoice(order, "NF1"))

    assert caught.value.may_have_landed is True
    assert "may have landed" in str(caught.value)
    assert sleep.calls == []
    calls = await sandbox.calls("invoice")
    assert sum(calls.values()) == 1 and next(iter(calls)).startswith("5")


async def test_a_timed_out_start_handling_is_not_resent(sandbox: Sandbox) -> None:
    async with sandbox.client(timeout_s=0.2) as vtex:
        event = await first_order(vtex)
        await sandbox.faults("start_handling", ratio_timeout=1.0, timeout_s=0.6)

        with structlog.testing.capture_logs() as events, pytest.raises(Unavailable) as caught:
            await vtex.start_handling(event.order_id)

    assert caught.value.may_have_landed is True
    attempts = [e for e in events if e["event"] == "vtex.call"]
    assert [(e["path"], e["attempt"]) for e in attempts] == [
        (f"/api/oms/pvt/orders/{event.order_id}/start-handling", 1)
    ]
    assert attempts[0]["error"] in ("Timeout", "ReadTimeout"), "whichever timer fired first"


async def test_a_second_start_handling_surfaces_vtex_code_oms003(sandbox: Sandbox) -> None:
    async with sandbox.client() as vtex:
        event = await first_order(vtex)
        await vtex.start_handling(event.order_id)

        with pytest.raises(Conflict) as caught:
            await vtex.start_handling(event.order_id)

    assert caught.value.code == "OMS003"
    assert caught.value.status == 409
    assert (await sandbox.stats())["start_handling"] == {event.order_id: 1}


async def test_an_unknown_order_is_not_found(sandbox: Sandbox) -> None:
    async with sandbox.client() as vtex:
        with pytest.raises(NotFound) as caught:
            await vtex.get_order("999999999-01")

    assert caught.value.code == "OMS007"


async def test_secrets_are_absent_from_captured_logs(
    sandbox: Sandbox,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    sleep = ClearFaultsThenSleep(sandbox.admin)
    errors: list[Exception] = []
    with structlog.testing.capture_logs() as events:
        async with sandbox.client(sleep=sleep) as vtex:
            event = await first_order(vtex)
            await sandbox.faults("get_order", ratio_5xx=1.0)
            await vtex.get_order(event.order_id)
            await vtex.start_handling(event.order_id)
            try:
                await vtex.start_handling(event.order_id)
            except Conflict as conflict:
                errors.append(conflict)
        async with sandbox.client(app_token=WRONG_TOKEN) as intruder:
            try:
                await intruder.get_order(event.order_id)
            except AuthError as denied:
                errors.append(denied)

    assert len(errors) == 2 and len(events) >= 5
    captured = capsys.readouterr()
    everything = repr(events) + caplog.text + captured.out + captured.err + repr(errors) + str(errors)
    for secret in (APP_KEY, APP_TOKEN, WRONG_TOKEN):
        assert secret not in everything


async def test_the_four_moments_run_end_to_end(sandbox: Sandbox) -> None:
    async with sandbox.client() as vtex:
        events = await vtex.read_feed()
        await vtex.commit_feed([e.handle for e in events])
        event = events[0]
        order = await vtex.get_order(event.order_id)
        await vtex.start_handling(order.order_id)
        order = await vtex.get_order(order.order_id)
        receipt = await vtex.send_invoice(order.order_id, full_invoice(order, "NF-100"))
        await vtex.patch_tracking_number(
            order.order_id, "NF-100", TrackingNumberPatch(tracking_number="TRK1")
        )
        await vtex.send_tracking_events(
            order.order_id, "NF-100", TrackingEvents(is_delivered=True, delivered_date="2026-11-28 10:00")
        )
        other = events[1].order_id
        cancel = await vtex.cancel_order(other, "stock shortage")
        invoiced = await vtex.get_order(order.order_id)

    assert receipt.receipt and cancel.receipt
    assert order.status == "handling"
    assert invoiced.invoiced_cents() == invoiced.value
    assert invoiced.packages[0].tracking_number == "TRK1"
    assert invoiced.raw["orderId"] == order.order_id
    stats = await sandbox.stats()
    assert stats["invoices"][order.order_id]["output_cents"] == order.value
    assert stats["cancels"] == {other: 1}


def full_invoice(order: Order, number: str) -> Invoice:
    """One Output invoice for the whole order, unit prices per item (VTEX multiplies by quantity)."""
    return Invoice(
        issuance_date=datetime.now(UTC),
        invoice_number=number,
        invoice_value=order.value,
        items=[
            InvoiceItem(id=item.id, price=item.selling_price or item.price or 0, quantity=item.quantity)
            for item in order.items
        ],
    )
