"""Tracking events sent one at a time all stay at VTEX (issue 14, item 5).

VTEX's "Update order tracking status" (PUT …/invoice/{invoiceNumber}/tracking) replaces the invoice's
event list with the one it is given, and the sandbox does the same; so orderbridge keeps each invoice's
history and sends the whole of it every time."""

from __future__ import annotations

from typing import Any

from api.test_field_names import _handling_order
from api.test_rest_end_to_end import World, _command_confirmed, _command_done, erp, world

__all__ = ["erp", "world"]  # the fixtures, imported for pytest

_COLLECTED = {"city": "Sao Paulo", "state": "SP", "description": "Collected", "date": "2026-11-27T12:00:00Z"}
_DELIVERED = {"city": "Rio", "state": "RJ", "description": "Delivered", "date": "2026-11-28T10:00:00Z"}


def _events_at_vtex(document: dict[str, Any], invoice_number: str) -> list[str]:
    [package] = [p for p in document["packageAttachment"]["packages"] if p["invoiceNumber"] == invoice_number]
    return [event["description"] for event in (package.get("courierStatus") or {}).get("data") or []]


async def _invoiced_with_tracking(world: World) -> str:
    api = world.api
    order_id, detail = await _handling_order(world)
    order = detail["order"]
    invoice = {
        "invoiceNumber": "NF-700",
        "invoiceValue": order["valueCents"],
        "issuanceDate": "2026-11-27T10:00:00Z",
        "items": [
            {"id": i["skuId"], "quantity": i["quantity"], "price": i["unitPriceCents"]}
            for i in order["items"]
        ],
    }
    posted = await api.post(f"/api/v1/orders/{order_id}/invoices", json=invoice)
    assert posted.status_code == 202, posted.text
    await _command_done(api, posted.json()["commandId"])
    tracking = await api.patch(
        f"/api/v1/orders/{order_id}/invoices/NF-700", json={"trackingNumber": "TRK-7", "courier": "Correios"}
    )
    assert tracking.status_code == 202, tracking.text
    await _command_done(api, tracking.json()["commandId"])
    return order_id


async def test_a_delivered_event_sent_after_a_collected_one_leaves_both_at_vtex(world: World) -> None:
    api, h = world.api, world.h
    order_id = await _invoiced_with_tracking(world)
    path = f"/api/v1/orders/{order_id}/invoices/NF-700/tracking-events"

    collected = await api.post(path, json={"isDelivered": False, "events": [_COLLECTED]})
    assert collected.status_code == 202, collected.text
    await _command_done(api, collected.json()["commandId"])
    assert _events_at_vtex(await h.vtex_order(order_id), "NF-700") == ["Collected"]

    delivered = await api.post(
        path, json={"isDelivered": True, "deliveredDate": _DELIVERED["date"], "events": [_DELIVERED]}
    )
    assert delivered.status_code == 202, delivered.text
    await _command_confirmed(api, delivered.json()["commandId"])
    assert _events_at_vtex(await h.vtex_order(order_id), "NF-700") == ["Collected", "Delivered"]

    # The stored command is what went to VTEX: the whole history, in the order the events came.
    sent = (await api.get(f"/api/v1/commands/{delivered.json()['commandId']}")).json()
    assert [e["description"] for e in sent["payload"]["events"]] == ["Collected", "Delivered"]


async def test_an_erp_that_resends_its_whole_list_gets_no_duplicate_events(world: World) -> None:
    api, h = world.api, world.h
    order_id = await _invoiced_with_tracking(world)
    path = f"/api/v1/orders/{order_id}/invoices/NF-700/tracking-events"
    first = await api.post(path, json={"isDelivered": False, "events": [_COLLECTED]})
    assert first.status_code == 202, first.text
    whole = await api.post(path, json={"isDelivered": True, "events": [_COLLECTED, _DELIVERED]})
    assert whole.status_code == 202, whole.text
    await _command_confirmed(api, whole.json()["commandId"])
    assert _events_at_vtex(await h.vtex_order(order_id), "NF-700") == ["Collected", "Delivered"]
