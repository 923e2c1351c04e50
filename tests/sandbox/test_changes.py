"""Change v1 (idempotent, capped, switchable off) and Change v2 (202, asynchronous)."""

from __future__ import annotations

from typing import Any

from .conftest import AUTH, Sandbox, make_config, open_sandbox


def change(request_id: str, discount: int = 0, increment: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "requestId": request_id,
        "reason": "ERP adjustment",
        "discountValue": discount,
        "incrementValue": increment,
        **extra,
    }


async def test_change_v1_updates_value_items_and_changes_attachment(sandbox: Sandbox) -> None:
    order_id = await sandbox.handling()
    before = await sandbox.order(order_id)
    item = before["items"][0]
    body = change(
        "r1", discount=100, itemsRemoved=[{"id": item["id"], "price": item["price"], "quantity": 1}]
    )
    response = await sandbox.post(f"/api/oms/pvt/orders/{order_id}/changes", body)
    assert response.status_code == 200 and set(response.json()) == {"date", "orderId", "receipt"}
    after = await sandbox.order(order_id)
    assert after["value"] == before["value"] - 100 - item["price"]
    assert after["value"] == sum(t["value"] for t in after["totals"])
    assert after["changesAttachment"]["changesData"][0]["receipt"] == response.json()
    assert after["status"] == "handling"


async def test_change_v1_request_id_is_an_idempotency_key(sandbox: Sandbox) -> None:
    order_id = await sandbox.handling()
    before = await sandbox.order(order_id)
    first = await sandbox.post(f"/api/oms/pvt/orders/{order_id}/changes", change("same", discount=50))
    again = await sandbox.post(f"/api/oms/pvt/orders/{order_id}/changes", change("same", discount=50))
    assert again.json() == first.json()
    after = await sandbox.order(order_id)
    assert after["value"] == before["value"] - 50
    assert len(after["changesAttachment"]["changesData"]) == 1


async def test_change_v1_is_capped_at_50_per_order(sandbox: Sandbox) -> None:
    order_id = await sandbox.handling()
    for n in range(50):
        response = await sandbox.post(f"/api/oms/pvt/orders/{order_id}/changes", change(f"r{n}", increment=1))
        assert response.status_code == 200
    refused = await sandbox.post(f"/api/oms/pvt/orders/{order_id}/changes", change("r50", increment=1))
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == "Max allowed modifications for order exceeded: 50"


async def test_change_v1_rules(sandbox: Sandbox) -> None:
    order_id = await sandbox.handling()
    order = await sandbox.order(order_id)
    path = f"/api/oms/pvt/orders/{order_id}/changes"
    assert (await sandbox.post(path, change("a", discount=-1))).status_code == 400
    assert (await sandbox.post(path, {**change("b"), "reason": ""})).status_code == 400
    too_much = change("c", discount=order["value"] + 1)
    assert (await sandbox.post(path, too_much)).status_code == 400
    unknown = change("d", itemsRemoved=[{"id": "nope", "price": 1, "quantity": 1}])
    assert (await sandbox.post(path, unknown)).status_code == 404
    ready = (await sandbox.orders())[0]
    assert (await sandbox.post(f"/api/oms/pvt/orders/{ready}/changes", change("e"))).status_code == 400


async def test_change_v1_can_add_a_catalog_item(sandbox: Sandbox) -> None:
    order_id = await sandbox.handling()
    before = await sandbox.order(order_id)
    body = change("add", itemsAdded=[{"id": "9999", "price": 1234, "quantity": 2}])
    assert (await sandbox.post(f"/api/oms/pvt/orders/{order_id}/changes", body)).status_code == 200
    after = await sandbox.order(order_id)
    assert after["value"] == before["value"] + 2468
    assert after["items"][-1]["id"] == "9999"


async def test_change_v1_can_be_deactivated_like_vtex_did_in_2026() -> None:
    client, oms = await open_sandbox(make_config(changes_v1_enabled=False))
    async with client:
        sandbox = Sandbox(client, oms)
        order_id = await sandbox.handling()
        response = await sandbox.post(f"/api/oms/pvt/orders/{order_id}/changes", change("r1"))
        assert response.status_code == 403
        assert "deactivated" in response.json()["error"]["message"]


async def test_change_v2_is_accepted_with_202_and_applied_asynchronously(sandbox: Sandbox) -> None:
    order_id = await sandbox.handling()
    before = await sandbox.order(order_id)
    item = before["items"][0]
    body = {"reason": "customer asked", "remove": {"items": [{"id": item["id"], "quantity": 1}]}}
    path = f"/api/order-system/orders/{order_id}/changes?accountName=testaccount"
    accepted = await sandbox.http.patch(path, json=body, headers=AUTH)
    assert accepted.status_code == 202
    request_id = accepted.json()["requestId"]
    status_path = f"/api/order-system/orders/{order_id}/changes/{request_id}?an=testaccount"
    pending = (await sandbox.http.get(status_path, headers=AUTH)).json()
    assert pending["status"] == "waiting-acknowledgement" and pending["inProgress"] is True
    assert (await sandbox.order(order_id))["value"] == before["value"]
    busy = await sandbox.http.patch(path, json=body, headers=AUTH)
    assert busy.status_code == 409 and busy.json()["error"]["code"] == "SalesOrderSystem014"
    await sandbox.advance(1)
    done = (await sandbox.http.get(status_path, headers=AUTH)).json()
    assert done["status"] == "done" and done["inProgress"] is False
    assert (await sandbox.order(order_id))["value"] == before["value"] - item["price"]
    listed = (
        await sandbox.http.get(f"/api/order-system/orders/{order_id}/changes?an=x", headers=AUTH)
    ).json()
    assert [r["requestId"] for r in listed["requests"]] == [request_id]


async def test_change_v1_and_v2_cannot_be_mixed_on_one_order(sandbox: Sandbox) -> None:
    order_id = await sandbox.handling()
    assert (
        await sandbox.post(f"/api/oms/pvt/orders/{order_id}/changes", change("r1", increment=1))
    ).status_code == 200
    path = f"/api/order-system/orders/{order_id}/changes?accountName=testaccount"
    mixed = await sandbox.http.patch(path, json={"reason": "x"}, headers=AUTH)
    assert mixed.status_code == 400 and mixed.json()["error"]["code"] == "SalesOrderSystem015"


async def test_change_removing_the_uninvoiced_rest_completes_invoicing(sandbox: Sandbox) -> None:
    order_id = await sandbox.handling()
    order = await sandbox.order(order_id)
    item = order["items"][0]
    body = {
        "type": "Output",
        "issuanceDate": "2026-11-27T10:00:00Z",
        "invoiceNumber": "P1",
        "invoiceValue": str(order["value"] - 500),
        "items": [{"id": item["id"], "price": item["price"], "quantity": 1}],
    }
    assert (await sandbox.post(f"/api/oms/pvt/orders/{order_id}/invoice", body)).status_code == 200
    assert (
        await sandbox.post(f"/api/oms/pvt/orders/{order_id}/changes", change("rest", discount=500))
    ).status_code == 200
    await sandbox.advance(1)
    assert (await sandbox.order(order_id))["status"] == "invoiced"
