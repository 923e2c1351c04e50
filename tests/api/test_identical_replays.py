"""An ERP that re-sends a command it already sent, without an `Idempotency-Key` (ERPs retry like that),
gets the first command back; only a different content under the same natural key is a conflict.

Driven over REST against the in-process sandbox, with a webhook ERP that decides later through the API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx2

from api.rest_world import World, erp, reach_state, world
from erp_adapters.fake_erp_server import Reply
from erp_adapters.harness import ACCOUNT, APP_KEY, APP_TOKEN, eventually
from orderbridge.core.decisions import PipelineState
from orderbridge.vtex import VtexClient
from orderbridge.vtex.models.invoice import Invoice, InvoiceItem

__all__ = ["erp", "world"]  # the fixtures, imported for pytest


async def _handling_order(world: World) -> tuple[str, dict[str, Any]]:
    """An order the ERP accepted, and its detail (`valueCents`, VTEX's own document in `raw`)."""
    [order_id] = await world.h.new_orders(1)
    await reach_state(world.h, order_id, PipelineState.AWAITING_ERP.value)
    accepted = await world.api.post(f"/api/v1/orders/{order_id}/acceptance", json={"accepted": True})
    assert accepted.status_code == 202, accepted.text
    await reach_state(world.h, order_id, PipelineState.HANDLING.value)
    detail: dict[str, Any] = (await world.api.get(f"/api/v1/orders/{order_id}")).json()
    return order_id, detail


def _full_invoice(detail: dict[str, Any], number: str = "NF-700") -> dict[str, Any]:
    return {
        "invoiceNumber": number,
        "invoiceValue": detail["valueCents"],
        "issuanceDate": "2026-11-27T10:00:00Z",
        "items": [
            {"id": i["id"], "quantity": i["quantity"], "price": i.get("sellingPrice", i["price"])}
            for i in detail["raw"]["items"]
        ],
    }


async def test_the_same_invoice_resent_without_an_idempotency_key_is_the_first_command(
    world: World,
) -> None:
    order_id, order = await _handling_order(world)
    path = f"/api/v1/orders/{order_id}/invoices"
    body = _full_invoice(order)

    first = await world.api.post(path, json=body)
    again = await world.api.post(path, json=body)

    assert first.status_code == 202, first.text
    assert again.status_code == 202, again.text
    assert again.json()["commandId"] == first.json()["commandId"]

    async def confirmed() -> bool:
        view = (await world.api.get(f"/api/v1/commands/{first.json()['commandId']}")).json()
        return bool(view["status"] == "confirmed")

    await eventually(confirmed, what="the invoice on the VTEX order")
    after_it_landed = await world.api.post(path, json=body)
    assert after_it_landed.status_code == 202, after_it_landed.text
    assert after_it_landed.json()["commandId"] == first.json()["commandId"]
    assert (await world.h.stats())["invoices"][order_id]["posts"] == 1


async def _command_status(world: World, command_id: str, *statuses: str) -> None:
    async def reached() -> bool:
        view = (await world.api.get(f"/api/v1/commands/{command_id}")).json()
        return bool(view["status"] in statuses)

    await eventually(reached, what=f"command {command_id} {' or '.join(statuses)}")


def _errors(response: httpx2.Response) -> list[tuple[str, str]]:
    return [(e.get("pointer") or e.get("parameter"), e["rule"]) for e in response.json()["errors"]]


async def test_another_invoice_under_a_number_already_used_is_a_409_naming_what_differs(
    world: World,
) -> None:
    order_id, order = await _handling_order(world)
    path = f"/api/v1/orders/{order_id}/invoices"
    first = await world.api.post(path, json=_full_invoice(order))
    assert first.status_code == 202, first.text

    other = {**_full_invoice(order), "invoiceValue": order["valueCents"] - 1}
    clash = await world.api.post(path, json=other)

    assert clash.status_code == 409, clash.text
    assert clash.headers["content-type"].startswith("application/problem+json")
    assert _errors(clash) == [("/invoiceValue", "invoice_number_reused")]
    assert first.json()["commandId"] in clash.json()["detail"]
    await _command_status(world, first.json()["commandId"], "confirmed")
    assert (await world.h.stats())["invoices"][order_id]["posts"] == 1


async def test_tracking_numbers_and_events_resent_as_they_were_are_the_first_commands(world: World) -> None:
    order_id, order = await _handling_order(world)
    invoice = await world.api.post(f"/api/v1/orders/{order_id}/invoices", json=_full_invoice(order))
    await _command_status(world, invoice.json()["commandId"], "confirmed")
    tracking_path = f"/api/v1/orders/{order_id}/invoices/NF-700"
    tracking = {"trackingNumber": "TRK-7", "courier": "Correios"}
    events_path = f"{tracking_path}/tracking-events"
    delivered = {
        "isDelivered": True,
        "deliveredDate": "2026-11-28T10:00:00Z",
        "events": [
            {"city": "Rio", "state": "RJ", "description": "Delivered", "date": "2026-11-28T10:00:00Z"}
        ],
    }

    first_tracking = await world.api.patch(tracking_path, json=tracking)
    again_tracking = await world.api.patch(tracking_path, json=tracking)
    other_courier = await world.api.patch(tracking_path, json={**tracking, "courier": "Loggi"})
    await _command_status(world, first_tracking.json()["commandId"], "sent", "confirmed")
    first_events = await world.api.post(events_path, json=delivered)
    await _command_status(world, first_events.json()["commandId"], "sent", "confirmed")
    again_events = await world.api.post(events_path, json=delivered)  # the order shows it delivered now

    assert first_tracking.status_code == again_tracking.status_code == 202, again_tracking.text
    assert again_tracking.json()["commandId"] == first_tracking.json()["commandId"]
    assert again_tracking.headers["Idempotent-Replayed"] == "true"
    assert other_courier.status_code == 409, other_courier.text
    assert _errors(other_courier) == [("/courier", "tracking_number_reused")]
    assert first_events.status_code == again_events.status_code == 202, again_events.text
    assert again_events.json()["commandId"] == first_events.json()["commandId"]


async def test_a_cancel_resent_is_the_first_cancel_and_one_with_another_reason_is_a_409(world: World) -> None:
    order_id, _ = await _handling_order(world)
    path = f"/api/v1/orders/{order_id}/cancellation"

    first = await world.api.post(path, json={"reason": "out of stock"})
    again = await world.api.post(path, json={"reason": "out of stock"})
    other = await world.api.post(path, json={"reason": "customer called"})

    assert first.status_code == again.status_code == 202, again.text
    assert again.json()["commandId"] == first.json()["commandId"]
    assert other.status_code == 409, other.text
    assert _errors(other) == [("/reason", "cancel_already_accepted")]
    await reach_state(world.h, order_id, PipelineState.CANCELED.value)
    after = await world.api.post(path, json={"reason": "out of stock"})
    assert after.status_code == 202 and after.json()["commandId"] == first.json()["commandId"]
    assert sum((await world.h.stats())["calls"].get("cancel", {}).values()) == 1


async def test_a_denial_the_webhook_erp_answered_and_resent_through_rest_is_the_same_command(
    world: World,
) -> None:
    order_id, _ = await _handling_order(world)

    def answer(delivery: Any) -> Reply:
        if delivery.event == "cancellation-requested":
            return Reply(200, {"accept": False, "reason": "already shipped"})
        return Reply(200, {})

    world.erp.decide = answer
    (await world.h.admin.post(f"/_sandbox/orders/{order_id}/customer-cancel")).raise_for_status()

    async def denied() -> bool:
        commands = (await world.api.get(f"/api/v1/orders/{order_id}")).json()["commands"]
        return any(c["kind"] == "deny_cancellation" for c in commands)

    await eventually(denied, what="the ERP's denial stored as a command")
    [asked] = [d for d in world.erp.deliveries if d.event == "cancellation-requested"]
    commands = (await world.api.get(f"/api/v1/orders/{order_id}")).json()["commands"]
    [denial] = [c for c in commands if c["kind"] == "deny_cancellation"]
    body = {"reason": "already shipped", "cancellationRequestId": asked.body["requestId"]}

    again = await world.api.post(f"/api/v1/orders/{order_id}/cancellation-request/deny", json=body)

    assert again.status_code == 202, again.text
    assert again.json()["commandId"] == denial["commandId"]


async def _awaiting_order(world: World) -> str:
    [order_id] = await world.h.new_orders(1)
    await reach_state(world.h, order_id, PipelineState.AWAITING_ERP.value)
    return order_id


async def test_an_acceptance_sent_again_is_answered_as_the_first_and_another_answer_is_a_409(
    world: World,
) -> None:
    order_id = await _awaiting_order(world)
    path = f"/api/v1/orders/{order_id}/acceptance"

    first = await world.api.post(path, json={"accepted": True, "erpReference": "SO-1"})
    await reach_state(world.h, order_id, PipelineState.HANDLING.value)
    again = await world.api.post(path, json={"accepted": True, "erpReference": "SO-1"})
    other_reference = await world.api.post(path, json={"accepted": True, "erpReference": "SO-2"})
    refusal = await world.api.post(path, json={"accepted": False, "reason": "changed our mind"})

    assert first.status_code == again.status_code == 202, again.text
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert other_reference.status_code == 409, other_reference.text
    assert _errors(other_reference) == [("/erpReference", "decision_already_recorded")]
    assert refusal.status_code == 409, refusal.text
    assert refusal.json()["type"] == "urn:orderbridge:problem:not-awaiting-acceptance"
    assert _errors(refusal) == [("orderId", "not_awaiting_acceptance")]
    assert "'handling'" in refusal.json()["detail"]
    assert (await world.h.stats())["start_handling"][order_id] == 1


async def test_an_acceptance_of_a_canceled_order_is_a_409_naming_itsreach_state(world: World) -> None:
    order_id = await _awaiting_order(world)
    (await world.h.admin.post(f"/_sandbox/orders/{order_id}/customer-cancel")).raise_for_status()
    await reach_state(world.h, order_id, PipelineState.CANCELED.value)

    late = await world.api.post(f"/api/v1/orders/{order_id}/acceptance", json={"accepted": True})

    assert late.status_code == 409, late.text
    assert _errors(late) == [("orderId", "not_awaiting_acceptance")]
    assert "'canceled'" in late.json()["detail"]
    assert order_id not in (await world.h.stats())["start_handling"]


async def test_an_acceptance_the_webhook_erp_already_answered_is_answered_as_a_repeat(world: World) -> None:
    world.erp.decide = lambda d: Reply(200, {"erpReference": "SO-9"})
    [order_id] = await world.h.new_orders(1)
    await reach_state(world.h, order_id, PipelineState.HANDLING.value)
    path = f"/api/v1/orders/{order_id}/acceptance"

    same = await world.api.post(path, json={"accepted": True, "erpReference": "SO-9"})
    other = await world.api.post(path, json={"accepted": True, "erpReference": "SO-10"})

    assert same.status_code == 202 and same.headers["Idempotent-Replayed"] == "true", same.text
    assert other.status_code == 409 and _errors(other) == [("/erpReference", "decision_already_recorded")]


async def test_an_invoice_vtex_already_shows_from_elsewhere_is_answered_with_a_confirmed_command(
    world: World,
) -> None:
    order_id, order = await _handling_order(world)
    body = _full_invoice(order, "NF-OUTSIDE")
    items = [InvoiceItem(id=i["id"], price=i["price"], quantity=i["quantity"]) for i in body["items"]]
    outside = Invoice(
        issuance_date=datetime(2026, 11, 27, 10, tzinfo=UTC),
        invoice_number="NF-OUTSIDE",
        invoice_value=body["invoiceValue"],
        items=items,
    )
    async with VtexClient(ACCOUNT, APP_KEY, APP_TOKEN, base_url=world.h.sandbox.base_url) as vtex:
        await vtex.send_invoice(order_id, outside)  # posted by someone else, straight to VTEX
    await reach_state(world.h, order_id, PipelineState.COMPLETED.value)  # the pipeline read it

    sent = await world.api.post(f"/api/v1/orders/{order_id}/invoices", json=body)

    assert sent.status_code == 202, sent.text
    assert sent.json()["status"] == "confirmed" and sent.headers["Idempotent-Replayed"] == "true"
    assert (await world.h.stats())["invoices"][order_id]["posts"] == 1
