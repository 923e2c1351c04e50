"""`GET /_sandbox/ledger`: every effect VTEX applied, per order — the VTEX side of the invariant checker."""

from __future__ import annotations

from .conftest import AUTH, Sandbox, make_config, open_sandbox
from .test_invoices import invoice, invoice_body


async def test_an_item_change_applied_twice_shows_twice_in_the_ledger(sandbox: Sandbox) -> None:
    order_id = await sandbox.handling()
    sku = (await sandbox.order(order_id))["items"][0]["id"]
    body = {"reason": "out of stock", "remove": {"items": [{"id": sku, "quantity": 1}]}}
    path = f"/api/order-system/orders/{order_id}/changes?an=testaccount"
    for _ in range(2):
        assert (await sandbox.http.patch(path, json=body, headers=AUTH)).status_code == 202
        await sandbox.advance(1)

    row = (await sandbox.http.get("/_sandbox/ledger")).json()["orders"][order_id]

    assert [(c["api"], c["removed"], c["added"]) for c in row["changes"]] == [("v2", {sku: 1}, {})] * 2
    assert row["start_handling"] == 1 and row["status"] == "handling" and row["delivered"] is False


async def test_invoice_posts_are_counted_per_invoice_number(sandbox: Sandbox) -> None:
    order_id = await sandbox.handling()
    order = await sandbox.order(order_id)
    half = order["value"] // 2
    first = invoice_body(order, "NF-1", half)
    for body in (first, first, invoice_body(order, "NF-2", half)):
        assert (await invoice(sandbox, order_id, body)).status_code == 200

    ledger = (await sandbox.http.get("/_sandbox/ledger")).json()

    assert ledger["orders"][order_id]["invoices"] == {"NF-1": 2, "NF-2": 1}
    assert ledger["feed_depth"] == 0


async def test_the_ledger_shows_when_an_order_became_ready_and_was_started_on_the_sandbox_clock() -> None:
    client, oms = await open_sandbox(make_config(grace_period_s=30.0))
    async with client:
        sandbox = Sandbox(client, oms)
        created_at = oms.clock.now()
        order_id = (await sandbox.orders())[0]
        before = (await sandbox.http.get("/_sandbox/ledger")).json()["orders"][order_id]
        await sandbox.advance(30)  # the grace period ends: ready-for-handling
        await sandbox.advance(100)
        assert (await sandbox.post(f"/api/oms/pvt/orders/{order_id}/start-handling")).status_code == 204
        assert (await sandbox.post(f"/api/oms/pvt/orders/{order_id}/start-handling")).status_code == 409

        row = (await sandbox.http.get("/_sandbox/ledger")).json()["orders"][order_id]

    assert before["ready_at"] is None and before["started_at"] is None
    # Advanced time counts (the sandbox clock), real seconds elapsed in the test are a few milliseconds.
    assert 30 <= row["ready_at"] - created_at < 32
    assert 100 <= row["started_at"] - row["ready_at"] < 102
