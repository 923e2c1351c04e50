"""ERP commands translated into VTEX requests (moments 2–4 and cancel). One function per command kind."""

from __future__ import annotations

from typing import Any

from orderbridge.core.commands import (
    CancelCommand,
    ChangeCommand,
    ChangeLine,
    Command,
    DenyCancellationCommand,
    InvoiceCommand,
    TrackingEventsCommand,
    TrackingNumberCommand,
)
from orderbridge.core.orders import OrderSnapshot
from orderbridge.vtex import (
    ChangeV1Request,
    ChangeV2Request,
    Invoice,
    TrackingEvents,
    TrackingNumberPatch,
    VtexClient,
)

from .deps import AccountPolicy


async def send(
    client: VtexClient, policy: AccountPolicy, order_id: str, command: Command, snapshot: OrderSnapshot | None
) -> dict[str, Any]:
    """Send one command; VTEX's receipt as a JSON-ready dict (stored on the command)."""
    if isinstance(command, InvoiceCommand):
        receipt = await client.send_invoice(order_id, invoice_request(command))
    elif isinstance(command, TrackingNumberCommand):
        number = command.invoice_number
        receipt = await client.patch_tracking_number(order_id, number, tracking_patch(command))
    elif isinstance(command, TrackingEventsCommand):
        number = command.invoice_number
        receipt = await client.send_tracking_events(order_id, number, tracking_events(command))
    elif isinstance(command, ChangeCommand):
        if policy.change_api == "v1":
            receipt = await client.send_change_v1(order_id, change_v1(command))
        else:
            v2 = await client.send_change_v2(order_id, change_v2(command))
            return v2.model_dump(mode="json", by_alias=True)
    elif isinstance(command, CancelCommand):
        receipt = await client.cancel_order(order_id, command.reason)
    else:
        await client.deny_cancellation_request(order_id, deny_request_id(command, snapshot), command.reason)
        return {}
    return receipt.model_dump(mode="json", by_alias=True)


def deny_request_id(command: DenyCancellationCommand, snapshot: OrderSnapshot | None) -> str:
    request_id = command.cancellation_request_id
    if request_id is None and snapshot is not None:
        request_id = snapshot.open_cancellation_request_id
    return request_id or ""


def invoice_request(command: InvoiceCommand) -> Invoice:
    return Invoice.model_validate(
        {
            "type": command.invoice_kind,
            "issuance_date": command.issuance_date,
            "invoice_number": command.invoice_number,
            "invoice_value": command.value_cents,
            "items": [
                {
                    "id": line.sku_id,
                    "price": line.unit_price_cents,
                    "quantity": line.quantity,
                    "description": line.description,
                }
                for line in command.lines
            ],
            "invoice_key": command.invoice_key,
            "invoice_url": command.invoice_url,
            "courier": command.courier or "",
            "tracking_number": command.tracking_number or "",
            "tracking_url": command.tracking_url or "",
        }
    )


def tracking_patch(command: TrackingNumberCommand) -> TrackingNumberPatch:
    return TrackingNumberPatch.model_validate(
        {
            "tracking_number": command.tracking_number,
            "tracking_url": command.tracking_url,
            "courier": command.courier,
            "dispatched_date": command.dispatched_date,
        }
    )


def tracking_events(command: TrackingEventsCommand) -> TrackingEvents:
    return TrackingEvents.model_validate(
        {
            "is_delivered": command.is_delivered,
            "delivered_date": command.delivered_date,
            "events": [
                {"city": e.city, "state": e.state, "description": e.description, "date": e.date}
                for e in command.events
            ],
        }
    )


def change_v1(command: ChangeCommand) -> ChangeV1Request:
    return ChangeV1Request.model_validate(
        {
            "request_id": command.request_id,
            "reason": command.reason,
            "discount_value": command.discount_cents,
            "increment_value": command.increment_cents,
            "items_removed": [_v1_line(line) for line in command.remove],
            "items_added": [_v1_line(line) for line in command.add],
        }
    )


def _v1_line(line: ChangeLine) -> dict[str, Any]:
    return {"id": line.sku_id, "price": line.unit_price_cents, "quantity": line.quantity}


def change_v2(command: ChangeCommand) -> ChangeV2Request:
    """Change v2 has no free discount/increment fields: only items move (v1 keeps those for its accounts)."""
    body: dict[str, Any] = {"reason": command.reason}
    if command.add:
        body["add"] = {"items": [_v2_line(line) for line in command.add]}
    if command.remove:
        body["remove"] = {"items": [_v2_line(line) for line in command.remove]}
    return ChangeV2Request.model_validate(body)


def _v2_line(line: ChangeLine) -> dict[str, Any]:
    return {"id": line.sku_id, "quantity": line.quantity, "price": line.unit_price_cents}
