"""An invoice VTEX refuses because a shopper's cancellation request just arrived is held, not lost:
it waits for the ERP's decision, then goes to VTEX once (denied) or is rejected with the reason
(canceled). The order's lock stays free for the decision meanwhile."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx2
import pytest

from orderbridge.core.commands import ChangeCommand, ChangeLine
from orderbridge.core.decisions import FEED_STATUSES
from orderbridge.erp.warehouse import WarehouseSettings
from orderbridge.pipeline.deps import AccountPolicy

from .conftest import ACCOUNT, IDLE_WAREHOUSE, SANDBOX_URL, Harness, HarnessFactory, sandbox_config
from .test_commands import full_invoice, handling_order, wait_command


class ShopperCancelsJustBeforeTheInvoice:
    """Wraps the sandbox: the first invoice POST is preceded by a shopper's cancellation request, the
    race of VTEX KI 1400005 made deterministic."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.fired = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        is_invoice = scope["type"] == "http" and scope["method"] == "POST" and path.endswith("/invoice")
        if is_invoice and not self.fired:
            self.fired = True
            await shopper_cancels(self.app, path.split("/")[-2])
        await self.app(scope, receive, send)


async def shopper_cancels(app: Any, order_id: str) -> None:
    """The shopper asks to cancel, through the sandbox's admin API (in process)."""
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url=SANDBOX_URL) as admin:
        answer = await admin.post(f"/_sandbox/orders/{order_id}/customer-cancel", json={"reason": "oops"})
        assert answer.status_code == 200, answer.text


def deciding(deny: bool) -> WarehouseSettings:
    ratio = 1.0 if deny else 0.0
    return WarehouseSettings(**{**IDLE_WAREHOUSE.model_dump(), "deny_cancellation_ratio": ratio})


async def invoice_after_the_request(harness: Harness) -> tuple[str, str | None]:
    snapshot = await handling_order(harness)
    invoice = full_invoice(snapshot)
    outcome = await harness.pipeline.sink.submit(ACCOUNT, snapshot.order_id, invoice, channel="test")
    assert outcome.accepted
    return snapshot.order_id, outcome.command_id


async def test_an_invoice_refused_during_a_cancellation_request_is_sent_once_after_the_denial(
    make_harness: HarnessFactory,
) -> None:
    harness = await make_harness(warehouse=deciding(deny=True), wrap_vtex=ShopperCancelsJustBeforeTheInvoice)
    order_id, command_id = await invoice_after_the_request(harness)

    await wait_command(harness, command_id, "confirmed")
    await harness.wait_for(lambda: harness.in_state(order_id, "completed"), what="order completed")

    order = await harness.vtex_order(order_id)
    assert order["status"] == "invoiced"
    assert len(order["packageAttachment"]["packages"]) == 1
    assert harness.warehouse.summary().cancellations_denied == 1
    assert (await harness.stats())["calls"]["invoice"] == {"400": 1, "200": 1}


async def test_an_invoice_held_for_a_cancellation_the_erp_accepts_is_rejected_with_the_reason(
    make_harness: HarnessFactory,
) -> None:
    harness = await make_harness(warehouse=deciding(deny=False), wrap_vtex=ShopperCancelsJustBeforeTheInvoice)
    order_id, command_id = await invoice_after_the_request(harness)

    row = await wait_command(harness, command_id, "rejected")
    await harness.wait_for(lambda: harness.in_state(order_id, "canceled"), what="order canceled")

    assert "canceled" in (row.error or "")
    stats = await harness.stats()
    assert stats["calls"]["invoice"] == {"400": 1}
    assert stats["cancels"] == {order_id: 1}


async def test_a_cancellation_request_revealed_by_a_relay_reread_is_decided_without_waiting_for_its_event(
    make_harness: HarnessFactory,
) -> None:
    # The feed never announces `cancellation-requested` here: only the invoice relay's re-read after
    # VTEX's 400 reveals it. That read must lead to the ERP's decision at once, as an event would.
    silent = tuple(s for s in FEED_STATUSES if s != "cancellation-requested")
    policy = AccountPolicy(ACCOUNT, pollers=2, feed_statuses=silent)
    harness = await make_harness(
        warehouse=deciding(deny=True), wrap_vtex=ShopperCancelsJustBeforeTheInvoice, policy=policy
    )
    order_id, command_id = await invoice_after_the_request(harness)

    await wait_command(harness, command_id, "confirmed")
    await harness.wait_for(lambda: harness.in_state(order_id, "completed"), timeout_s=10, what="completed")
    assert harness.warehouse.summary().cancellations_denied == 1


class InvoiceJustBeforeTheSyncReads:
    """Wraps the sandbox: once armed, the pipeline's next Get order of the order is preceded by the ERP's
    invoice reaching the pipeline. The sync that reads the shopper's cancellation request holds the
    order's lock, so the invoice (accepted: the stored order still says handling) queues its relay
    behind that sync — the interleaving the short chaos run met, made deterministic."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.submit: Callable[[], Awaitable[str | None]] | None = None
        self.invoice_id: str | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        is_get = scope["type"] == "http" and scope["method"] == "GET" and "/api/oms/pvt/orders/" in path
        if is_get and self.submit is not None:
            submit, self.submit = self.submit, None
            self.invoice_id = await submit()
        await self.app(scope, receive, send)


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_a_cancellation_accepted_while_the_erps_invoice_waits_in_line_cancels_the_order(
    make_harness: HarnessFactory, database: str
) -> None:
    # The ERP accepts the cancellation without counting an invoice of its own the pipeline accepted a
    # moment before. That invoice is judged first (its relay is ahead in the order's lane): VTEX refuses
    # it for the open request and it is held; then the cancel goes; then the invoice is rejected with
    # the reason. Judged at once, the cancel was refused ("an invoice is in flight") and the order
    # parked with the shopper's request open at VTEX and nothing left to decide it.
    wrappers: list[InvoiceJustBeforeTheSyncReads] = []

    def wrap(app: Any) -> InvoiceJustBeforeTheSyncReads:
        wrappers.append(InvoiceJustBeforeTheSyncReads(app))
        return wrappers[-1]

    harness = await make_harness(warehouse=deciding(deny=False), wrap_vtex=wrap, database=database)
    snapshot = await handling_order(harness)
    order_id = snapshot.order_id

    async def erp_invoices() -> str | None:
        invoice = full_invoice(snapshot)
        outcome = await harness.pipeline.sink.submit(ACCOUNT, order_id, invoice, channel="test")
        assert outcome.accepted, outcome.problems
        return outcome.command_id

    wrappers[0].submit = erp_invoices
    answer = await harness.admin.post(f"/_sandbox/orders/{order_id}/customer-cancel", json={"reason": "oops"})
    assert answer.status_code == 200, answer.text

    await harness.wait_for(lambda: harness.in_state(order_id, "canceled"), what="order canceled")
    row = await wait_command(harness, wrappers[0].invoice_id, "rejected")
    assert "canceled" in (row.error or "")
    assert (await harness.vtex_order(order_id))["status"] == "canceled"
    stats = await harness.stats()
    assert stats["cancels"] == {order_id: 1}
    assert stats["calls"]["invoice"] == {"400": 1}


class ShopperCancelsJustAfterTheChange:
    """Wraps the sandbox: right after VTEX accepts the first Change v2 (PATCH, 202), a shopper asks to cancel,
    so VTEX cancels the change request when it settles (the order is no longer changeable)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.fired = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        is_change = scope["type"] == "http" and scope["method"] == "PATCH" and path.endswith("/changes")
        await self.app(scope, receive, send)
        if is_change and path.startswith("/api/order-system/") and not self.fired:
            self.fired = True
            await shopper_cancels(self.app, path.split("/")[-2])


async def test_a_change_vtex_cancels_for_a_shoppers_cancellation_request_is_applied_once_after_the_denial(
    make_harness: HarnessFactory,
) -> None:
    # The change settles a moment later on VTEX's side: the shopper's request comes first.
    harness = await make_harness(
        sandbox=sandbox_config(change_v2_settle_s=0.5),
        warehouse=deciding(deny=True),
        wrap_vtex=ShopperCancelsJustAfterTheChange,
    )
    snapshot = await handling_order(harness)
    item = snapshot.items[0]
    change = ChangeCommand(
        "req-1", "out of stock", remove=(ChangeLine(item.sku_id, 1, item.unit_price_cents),)
    )

    changed = await harness.pipeline.sink.submit(ACCOUNT, snapshot.order_id, change, channel="test")
    assert changed.accepted
    await wait_command(harness, changed.command_id, "confirmed")

    order = await harness.vtex_order(snapshot.order_id)
    assert order["status"] == "handling" and harness.warehouse.summary().cancellations_denied == 1
    ledger = (await harness.admin.get("/_sandbox/ledger")).json()
    assert len(ledger["orders"][snapshot.order_id]["changes"]) == 1, "applied once, after the denial"
