"""The ERP reads back the names it wrote (issue 14, item 3): every refusal points at a field of the request
(a JSON Pointer into the body, RFC 9457 style, or the URL parameter), and an order's detail is camelCase
throughout, like VTEX's documents and the rest of the API."""

from __future__ import annotations

from typing import Any

from api.rest_world import World, erp, reach_state, world
from orderbridge.core.decisions import PipelineState

__all__ = ["erp", "world"]  # the fixtures, imported for pytest

#: Words of orderbridge's own models that an ERP never wrote.
_INTERNAL_NAMES = ("value_cents", "sku_id", "lines[", "invoice_number", "unit_price", "tracking_number.")


async def _handling_order(world: World) -> tuple[str, dict[str, Any]]:
    h, api = world.h, world.api
    [order_id] = await h.new_orders(1)
    await reach_state(h, order_id, PipelineState.AWAITING_ERP.value)
    accepted = await api.post(f"/api/v1/orders/{order_id}/acceptance", json={"accepted": True})
    assert accepted.status_code == 202, accepted.text
    await reach_state(h, order_id, PipelineState.HANDLING.value)
    detail: dict[str, Any] = (await api.get(f"/api/v1/orders/{order_id}")).json()
    return order_id, detail


def _located(problem: dict[str, Any]) -> set[tuple[str, str, str]]:
    out = set()
    for error in problem["errors"]:
        where = "pointer" if "pointer" in error else "parameter"
        out.add((where, error.get(where, ""), error["rule"]))
    return out


async def test_a_refused_command_points_at_each_field_as_the_erp_sent_it(world: World) -> None:
    api = world.api
    order_id, detail = await _handling_order(world)
    value = detail["order"]["valueCents"]
    invoice = {
        "invoiceNumber": "NF-1",
        "invoiceValue": value + 1,
        "issuanceDate": "2026-11-27T10:00:00Z",
        "items": [{"id": "no-such-sku", "quantity": 1, "price": 1}],
    }
    refused = await api.post(f"/api/v1/orders/{order_id}/invoices", json=invoice)
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert {("pointer", "/invoiceValue", "exceeds_remaining"), ("pointer", "/items/0/id", "unknown_sku")} <= (
        _located(problem)
    )
    assert "invoiceValue: " in problem["detail"] and "items[0].id: " in problem["detail"]
    assert not [name for name in _INTERNAL_NAMES if name in refused.text], refused.text

    shape = {**invoice, "invoiceValue": value, "items": [{"id": "x", "quantity": 0, "price": 1}]}
    malformed = await api.post(f"/api/v1/orders/{order_id}/invoices", json=shape)
    assert ("pointer", "/items/0/quantity", "greater_than") in _located(malformed.json()), malformed.text

    tracking = await api.patch(
        f"/api/v1/orders/{order_id}/invoices/NF-404", json={"trackingNumber": "T-1", "courier": "C"}
    )
    assert tracking.status_code == 422, tracking.text
    assert ("parameter", "invoiceNumber", "unknown_invoice") in _located(tracking.json())
    assert not [name for name in _INTERNAL_NAMES if name in tracking.text], tracking.text


def _snake_keys(node: Any, path: str = "") -> list[str]:
    """Every key with an underscore, except inside VTEX's own document and maps keyed by SKU ids."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}/{key}"
            if "_" in key:
                found.append(where)
            if key in ("raw", "vtexReceipt", "removed", "added"):
                continue
            found += _snake_keys(value, where)
    elif isinstance(node, list):
        for n, value in enumerate(node):
            found += _snake_keys(value, f"{path}/{n}")
    return found


async def test_an_order_detail_is_camel_case_throughout(world: World) -> None:
    api = world.api
    order_id, _ = await _handling_order(world)
    canceled = await api.post(f"/api/v1/orders/{order_id}/cancellation", json={"reason": "x"})
    assert canceled.status_code == 202, canceled.text  # a command, so `commands[].payload` is shown too
    detail = (await api.get(f"/api/v1/orders/{order_id}")).json()
    assert detail["commands"], detail
    assert _snake_keys(detail) == [], detail
    order = detail["order"]
    assert {"orderId", "valueCents", "lastChange", "isCompleted"} <= set(order)
    assert {"skuId", "unitPriceCents"} <= set(order["items"][0])
    command = (await api.get(f"/api/v1/commands/{canceled.json()['commandId']}")).json()
    assert _snake_keys(command) == [], command
