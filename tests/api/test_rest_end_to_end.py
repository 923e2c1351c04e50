"""The ERP-facing REST API end to end, with a webhook ERP played by a real loopback HTTP server that
verifies orderbridge's signatures: orders out by webhook, acceptance, invoice and tracking back in by
REST, the sandbox's stats as ground truth. No token or secret shows in any response or log line."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from api.rest_world import SECRET, TOKEN, World, erp, reach_state, world
from erp_adapters.fake_erp_server import Reply
from erp_adapters.harness import APP_TOKEN, eventually
from orderbridge.core.decisions import PipelineState

__all__ = ["erp", "world"]  # the fixtures, imported for pytest


async def _command_done(api: httpx2.AsyncClient, command_id: str) -> dict[str, Any]:
    async def done() -> bool:
        status = (await api.get(f"/api/v1/commands/{command_id}")).json()["status"]
        return bool(status in ("sent", "confirmed"))

    await eventually(done, what=f"command {command_id} sent to VTEX")
    view: dict[str, Any] = (await api.get(f"/api/v1/commands/{command_id}")).json()
    return view


async def _command_confirmed(api: httpx2.AsyncClient, command_id: str) -> None:
    async def confirmed() -> bool:
        return bool((await api.get(f"/api/v1/commands/{command_id}")).json()["status"] == "confirmed")

    await eventually(confirmed, what=f"command {command_id} visible on the VTEX order")


async def test_an_order_flows_out_by_webhook_and_its_invoice_and_tracking_come_back_by_rest(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    h, api = world.h, world.api
    [order_id] = await h.new_orders(1)
    await reach_state(h, order_id, PipelineState.AWAITING_ERP.value)
    [delivery] = [d for d in world.erp.deliveries if d.event == "order"]
    assert delivery.signature_ok and delivery.body["orderId"] == order_id

    accepted = await api.post(
        f"/api/v1/orders/{order_id}/acceptance",
        json={"accepted": True, "erpReference": "SO-1"},
        headers={"Idempotency-Key": "accept-1"},
    )
    assert accepted.status_code == 202, accepted.text
    await reach_state(h, order_id, PipelineState.HANDLING.value)

    detail = (await api.get(f"/api/v1/orders/{order_id}")).json()
    assert detail["pipelineState"] == "handling" and detail["erpReference"] == "SO-1"
    assert detail["raw"]["orderId"] == order_id
    order = detail["order"]
    too_much = {
        "invoiceNumber": "NF-499",
        "invoiceValue": order["valueCents"] + 1,
        "issuanceDate": "2026-11-27T10:00:00Z",
        "items": [{"id": order["items"][0]["skuId"], "quantity": 1, "price": 1}],
    }
    refused = await api.post(f"/api/v1/orders/{order_id}/invoices", json=too_much)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert {"pointer": "/invoiceValue", "rule": "exceeds_remaining"} in [
        {"pointer": e.get("pointer"), "rule": e["rule"]} for e in refused.json()["errors"]
    ]
    body = {
        "invoiceNumber": "NF-500",
        "invoiceValue": order["valueCents"],
        "issuanceDate": "2026-11-27T10:00:00Z",
        "items": [
            {"id": i["skuId"], "quantity": i["quantity"], "price": i["unitPriceCents"]}
            for i in order["items"]
        ],
    }
    first = await api.post(
        f"/api/v1/orders/{order_id}/invoices", json=body, headers={"Idempotency-Key": "inv-1"}
    )
    again = await api.post(
        f"/api/v1/orders/{order_id}/invoices", json=body, headers={"Idempotency-Key": "inv-1"}
    )
    assert first.status_code == again.status_code == 202, first.text
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    sent = await _command_done(api, first.json()["commandId"])
    assert sent["vtexReceipt"] and sent["attempts"]

    tracking = await api.patch(
        f"/api/v1/orders/{order_id}/invoices/NF-500", json={"trackingNumber": "TRK-1", "courier": "Correios"}
    )
    assert tracking.status_code == 202, tracking.text
    await _command_done(api, tracking.json()["commandId"])
    events = await api.post(
        f"/api/v1/orders/{order_id}/invoices/NF-500/tracking-events",
        json={
            "isDelivered": True,
            "deliveredDate": "2026-11-28T10:00:00Z",
            "events": [
                {"city": "Rio", "state": "RJ", "description": "Delivered", "date": "2026-11-28T10:00:00Z"}
            ],
        },
    )
    assert events.status_code == 202, events.text
    await _command_done(api, events.json()["commandId"])

    stats = await h.stats()
    assert stats["invoices"][order_id]["posts"] == 1  # the retried POST did nothing twice
    assert stats["start_handling"][order_id] == 1
    history = (await api.get(f"/api/v1/orders/{order_id}")).json()
    state = history["pipelineState"]

    async def listed(**params: Any) -> list[str]:
        page = (await api.get("/api/v1/orders", params={"limit": 10, **params})).json()
        return [o["orderId"] for o in page["items"]]

    assert await listed(account="acme", pipelineState=state) == [order_id]
    assert await listed(pipelineState="parked") == []
    assert await listed(account="another") == []
    assert [c["kind"] for c in history["commands"]] == ["invoice", "tracking_number", "tracking_events"]

    output = capsys.readouterr()
    for secret in (TOKEN, SECRET, APP_TOKEN):
        assert secret not in output.out + output.err
        assert secret not in str(history)


async def test_a_cancellation_request_is_denied_through_the_api_when_the_erp_says_no_later(
    world: World,
) -> None:
    h, api = world.h, world.api
    [order_id] = await h.new_orders(1)
    await reach_state(h, order_id, PipelineState.AWAITING_ERP.value)
    await api.post(f"/api/v1/orders/{order_id}/acceptance", json={"accepted": True})
    await reach_state(h, order_id, PipelineState.HANDLING.value)
    (await h.admin.post(f"/_sandbox/orders/{order_id}/customer-cancel")).raise_for_status()

    async def asked() -> bool:
        return any(d.event == "cancellation-requested" for d in world.erp.deliveries)

    await eventually(asked, what="the ERP asked about the cancellation request")
    assert world.erp.deliveries[-1].signature_ok
    denied = await api.post(
        f"/api/v1/orders/{order_id}/cancellation-request/deny", json={"reason": "shipped"}
    )
    assert denied.status_code == 202, denied.text
    await _command_done(api, denied.json()["commandId"])

    async def back_in_handling() -> bool:
        return bool((await h.vtex_order(order_id))["status"] == "handling")

    await eventually(back_in_handling, what="VTEX to show the order back in handling")


async def test_an_order_the_erp_rejects_later_is_parked_with_its_reason(world: World) -> None:
    h, api = world.h, world.api
    [order_id] = await h.new_orders(1)
    await reach_state(h, order_id, PipelineState.AWAITING_ERP.value)
    rejected = await api.post(
        f"/api/v1/orders/{order_id}/acceptance", json={"accepted": False, "reason": "customer blocked"}
    )
    assert rejected.status_code == 202
    await reach_state(h, order_id, PipelineState.PARKED.value)
    detail = (await api.get(f"/api/v1/orders/{order_id}")).json()
    assert "customer blocked" in detail["parkReason"]
    assert order_id not in (await h.stats())["start_handling"]
    again = await api.post(
        f"/api/v1/orders/{order_id}/acceptance", json={"accepted": False, "reason": "customer blocked"}
    )
    late = await api.post(f"/api/v1/orders/{order_id}/acceptance", json={"accepted": True})
    assert again.status_code == 202  # the same decision again: answered as the first time
    assert late.status_code == 409 and "not awaiting" in late.json()["detail"]


async def test_an_erp_outage_is_retried_until_the_erp_takes_the_order(world: World) -> None:
    world.erp.script += [Reply(503, {"reason": "maintenance"}), Reply(500, {})]
    [order_id] = await world.h.new_orders(1)
    await reach_state(world.h, order_id, PipelineState.AWAITING_ERP.value)
    deliveries = [d for d in world.erp.deliveries if d.event == "order"]
    assert len(deliveries) == 3
    assert all(d.signature_ok and d.delivery == f"acme:{order_id}:order" for d in deliveries)


async def test_a_change_resent_with_its_request_id_is_the_first_command_and_a_clash_is_a_409(
    world: World,
) -> None:
    h, api = world.h, world.api
    [order_id] = await h.new_orders(1)
    await reach_state(h, order_id, PipelineState.AWAITING_ERP.value)
    accepted = await api.post(f"/api/v1/orders/{order_id}/acceptance", json={"accepted": True})
    assert accepted.status_code == 202, accepted.text
    await reach_state(h, order_id, PipelineState.HANDLING.value)
    item = (await api.get(f"/api/v1/orders/{order_id}")).json()["order"]["items"][0]
    path = f"/api/v1/orders/{order_id}/changes"

    def removing(quantity: int, request_id: str = "SO-1-C1") -> dict[str, Any]:
        line = {"id": item["skuId"], "quantity": quantity, "price": item["unitPriceCents"]}
        return {"reason": "out of stock", "requestId": request_id, "itemsRemoved": [line]}

    first = await api.post(path, json=removing(1), headers={"Idempotency-Key": "chg-1"})
    again = await api.post(path, json=removing(1), headers={"Idempotency-Key": "chg-2"})
    reused = await api.post(path, json=removing(2), headers={"Idempotency-Key": "chg-3"})
    assert first.status_code == again.status_code == 202, again.text
    assert again.json()["commandId"] == first.json()["commandId"]
    assert reused.status_code == 409, reused.text
    assert [e["rule"] for e in reused.json()["errors"]] == ["request_id_reused"]
    await _command_confirmed(api, first.json()["commandId"])

    below_zero = await api.post(path, json=removing(item["quantity"], "SO-1-C2"))
    assert below_zero.status_code == 409, below_zero.text
    body = below_zero.json()
    assert body["type"] == "urn:orderbridge:problem:command-conflict"
    assert "quantity_exceeds" in [e["rule"] for e in body["errors"]] and "below zero" in body["detail"]
