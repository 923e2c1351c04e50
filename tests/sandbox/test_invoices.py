"""Invoices: full, partial, over-invoicing, returns, repeats; tracking numbers and events."""

from __future__ import annotations

from typing import Any

from .conftest import AUTH, Sandbox


def invoice_body(
    order: dict[str, Any], number: str, value: int, kind: str = "Output", tracking: str = ""
) -> dict[str, Any]:
    item = order["items"][0]
    return {
        "type": kind,
        "issuanceDate": "2026-11-27T10:00:00Z",
        "invoiceNumber": number,
        "invoiceValue": str(value),
        "invoiceKey": None,
        "invoiceUrl": None,
        "embeddedInvoice": None,
        "courier": "",
        "trackingNumber": tracking,
        "trackingUrl": "",
        "dispatchedDate": None,
        "items": [{"id": item["id"], "price": item["price"], "quantity": item["quantity"]}],
    }


async def invoice(sandbox: Sandbox, order_id: str, body: dict[str, Any]) -> Any:
    return await sandbox.post(f"/api/oms/pvt/orders/{order_id}/invoice", body)


async def test_full_output_invoice_goes_invoice_then_invoiced(sandbox: Sandbox) -> None:
    order_id = await sandbox.handling()
    order = await sandbox.order(order_id)
    response = await invoice(sandbox, order_id, invoice_body(order, "NF1", order["value"]))
    assert response.status_code == 200 and len(response.json()["receipt"]) == 32
    assert (await sandbox.order(order_id))["status"] == "invoice"
    await sandbox.advance(1)
    final = await sandbox.order(order_id)
    assert final["status"] == "invoiced" and final["invoicedDate"]
    package = final["packageAttachment"]["packages"][0]
    assert package["invoiceValue"] == order["value"] and package["type"] == "Output"
    stats = (await sandbox.stats())["invoices"][order_id]
    assert stats == {"posts": 1, "packages": 1, "output_cents": order["value"], "repeats": 0}


async def test_partial_invoices_add_packages_until_the_value_is_reached(sandbox: Sandbox) -> None:
    order_id = await sandbox.handling()
    order = await sandbox.order(order_id)
    part = order["value"] // 3
    assert (await invoice(sandbox, order_id, invoice_body(order, "P1", part))).status_code == 200
    assert (await sandbox.order(order_id))["status"] == "handling"
    assert (
        await invoice(sandbox, order_id, invoice_body(order, "P2", order["value"] - part))
    ).status_code == 200
    await sandbox.advance(1)
    final = await sandbox.order(order_id)
    assert final["status"] == "invoiced" and len(final["packageAttachment"]["packages"]) == 2


async def test_over_invoicing_is_refused(sandbox: Sandbox) -> None:
    order_id = await sandbox.handling()
    order = await sandbox.order(order_id)
    response = await invoice(sandbox, order_id, invoice_body(order, "NF1", order["value"] + 1))
    assert response.status_code == 400 and "exceeds" in response.json()["error"]["message"]
    assert (await sandbox.order(order_id))["packageAttachment"]["packages"] == []


async def test_repeated_invoice_number_is_the_same_package_with_a_new_receipt(sandbox: Sandbox) -> None:
    order_id = await sandbox.handling()
    order = await sandbox.order(order_id)
    first = (await invoice(sandbox, order_id, invoice_body(order, "NF1", 100))).json()
    second = (await invoice(sandbox, order_id, invoice_body(order, "NF1", 100))).json()
    assert first["receipt"] != second["receipt"]
    assert len((await sandbox.order(order_id))["packageAttachment"]["packages"]) == 1
    expected = {"posts": 2, "packages": 1, "output_cents": 100, "repeats": 1}
    assert (await sandbox.stats())["invoices"][order_id] == expected


async def test_input_invoice_needs_a_fully_invoiced_order(sandbox: Sandbox) -> None:
    order_id = await sandbox.handling()
    order = await sandbox.order(order_id)
    early = await invoice(sandbox, order_id, invoice_body(order, "R1", 100, "Input"))
    assert early.status_code == 400
    await invoice(sandbox, order_id, invoice_body(order, "NF1", order["value"]))
    await sandbox.advance(1)
    ret = await invoice(sandbox, order_id, invoice_body(order, "R1", 100, "Input"))
    assert ret.status_code == 200
    final = await sandbox.order(order_id)
    assert final["status"] == "invoiced"
    assert final["packageAttachment"]["packages"][1]["restitutions"]["Refund"]["value"] == 100


async def test_invoice_before_handling_is_refused(sandbox: Sandbox) -> None:
    order_id = (await sandbox.orders())[0]
    order = await sandbox.order(order_id)
    assert (await invoice(sandbox, order_id, invoice_body(order, "NF1", order["value"]))).status_code == 400


async def test_invoice_with_an_unknown_sku_or_missing_fields_is_refused(sandbox: Sandbox) -> None:
    order_id = await sandbox.handling()
    order = await sandbox.order(order_id)
    body = invoice_body(order, "NF1", 100)
    body["items"][0]["id"] = "no-such-sku"
    assert (await invoice(sandbox, order_id, body)).status_code == 400
    assert (await invoice(sandbox, order_id, {"type": "Output"})).status_code == 400
    zero = invoice_body(order, "NF2", 0)
    assert (await invoice(sandbox, order_id, zero)).status_code == 400


async def test_integer_invoice_value_is_accepted(sandbox: Sandbox) -> None:
    order_id = await sandbox.handling()
    order = await sandbox.order(order_id)
    body = invoice_body(order, "NF1", 0)
    body["invoiceValue"] = order["value"]
    assert (await invoice(sandbox, order_id, body)).status_code == 200


async def test_cancel_is_refused_after_a_partial_or_full_invoice(sandbox: Sandbox) -> None:
    order_id = await sandbox.handling()
    order = await sandbox.order(order_id)
    await invoice(sandbox, order_id, invoice_body(order, "P1", 100))
    partial = await sandbox.post(f"/api/oms/pvt/orders/{order_id}/cancel", {"reason": "x"})
    assert partial.status_code == 400
    await invoice(sandbox, order_id, invoice_body(order, "P2", order["value"] - 100))
    await sandbox.advance(1)
    full = await sandbox.post(f"/api/oms/pvt/orders/{order_id}/cancel", {"reason": "x"})
    assert full.status_code == 400
    assert (await sandbox.stats())["cancels"] == {}


async def test_tracking_events_need_a_tracking_number(sandbox: Sandbox) -> None:
    order_id = await sandbox.handling()
    order = await sandbox.order(order_id)
    await invoice(sandbox, order_id, invoice_body(order, "NF1", order["value"]))
    events = {
        "isDelivered": False,
        "deliveredDate": None,
        "events": [{"city": "Rio", "state": "RJ", "description": "Picked up", "date": "2026-11-27"}],
    }
    path = f"/api/oms/pvt/orders/{order_id}/invoice/NF1"
    assert (await sandbox.http.put(path + "/tracking", json=events, headers=AUTH)).status_code == 400
    patch = {
        "trackingNumber": "TRK1",
        "trackingUrl": "https://t/1",
        "courier": "Correios",
        "dispatchedDate": None,
    }
    patched = await sandbox.http.patch(path, json=patch, headers=AUTH)
    assert patched.status_code == 200 and set(patched.json()) == {"date", "orderId", "receipt"}
    tracked = await sandbox.http.put(path + "/tracking", json=events, headers=AUTH)
    assert tracked.status_code == 200
    status = (await sandbox.order(order_id))["packageAttachment"]["packages"][0]["courierStatus"]
    assert status["finished"] is False and status["data"][0]["description"] == "Picked up"


async def test_is_delivered_is_reflected_in_courier_status(sandbox: Sandbox) -> None:
    order_id = await sandbox.handling()
    order = await sandbox.order(order_id)
    await invoice(sandbox, order_id, invoice_body(order, "NF1", order["value"], tracking="TRK9"))
    path = f"/api/oms/pvt/orders/{order_id}/invoice/NF1/tracking"
    body = {"isDelivered": True, "deliveredDate": "2026-11-28 10:00", "events": []}
    assert (await sandbox.http.put(path, json=body, headers=AUTH)).status_code == 200
    await sandbox.advance(1)
    final = await sandbox.order(order_id)
    status = final["packageAttachment"]["packages"][0]["courierStatus"]
    assert status["finished"] is True and status["deliveredDate"] == "2026-11-28 10:00"
    assert final["status"] == "invoiced"


async def test_tracking_on_an_unknown_invoice_is_404(sandbox: Sandbox) -> None:
    order_id = await sandbox.handling()
    path = f"/api/oms/pvt/orders/{order_id}/invoice/NOPE"
    patch = {"trackingNumber": "T", "trackingUrl": None, "courier": None, "dispatchedDate": None}
    assert (await sandbox.http.patch(path, json=patch, headers=AUTH)).status_code == 404
