"""Get order, auth, start-handling, List orders and the generator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orderbridge.sandbox.orders_gen import generate_order

from .conftest import AUTH, Sandbox

EXAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "vtex"


async def test_missing_credentials_get_vtex_401_body(sandbox: Sandbox) -> None:
    order_id = (await sandbox.orders())[0]
    response = await sandbox.http.get(f"/api/oms/pvt/orders/{order_id}")
    assert response.status_code == 401
    assert response.json() == {"error": {"code": "1", "message": "Unauthorized access", "exception": None}}


async def test_wrong_token_is_401_and_the_token_is_not_echoed(sandbox: Sandbox) -> None:
    headers = {**AUTH, "X-VTEX-API-AppToken": "wrong-secret-value"}
    response = await sandbox.http.get("/api/orders/feed?maxlot=1", headers=headers)
    assert response.status_code == 401
    assert "wrong-secret-value" not in response.text


async def test_unknown_order_is_404_oms007(sandbox: Sandbox) -> None:
    response = await sandbox.http.get("/api/oms/pvt/orders/999-01", headers=AUTH)
    assert response.status_code == 404
    assert response.json()["error"] == {"code": "OMS007", "message": "Order Not Found", "exception": None}


async def test_order_is_found_by_sequence(sandbox: Sandbox) -> None:
    order_id = (await sandbox.orders())[0]
    order = await sandbox.order(order_id)
    by_seq = await sandbox.order(f"seq{order['sequence']}")
    assert by_seq["orderId"] == order_id


async def test_order_group_lists_the_orders_of_the_group(sandbox: Sandbox) -> None:
    order_id = (await sandbox.orders())[0]
    group = (await sandbox.order(order_id))["orderGroup"]
    response = await sandbox.http.get(f"/api/oms/pvt/orders/order-group/{group}", headers=AUTH)
    assert [o["orderId"] for o in response.json()] == [order_id]
    missing = await sandbox.http.get("/api/oms/pvt/orders/order-group/000", headers=AUTH)
    assert missing.status_code == 404


async def test_start_handling_is_204_then_409_oms003(sandbox: Sandbox) -> None:
    order_id = (await sandbox.orders())[0]
    first = await sandbox.post(f"/api/oms/pvt/orders/{order_id}/start-handling")
    second = await sandbox.post(f"/api/oms/pvt/orders/{order_id}/start-handling")
    assert first.status_code == 204 and first.content == b""
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "OMS003"
    assert (await sandbox.order(order_id))["status"] == "handling"
    assert (await sandbox.stats())["start_handling"] == {order_id: 1}


async def test_start_handling_unknown_order_is_404(sandbox: Sandbox) -> None:
    response = await sandbox.post("/api/oms/pvt/orders/nope-01/start-handling")
    assert response.status_code == 404


async def test_generated_orders_are_deterministic_under_a_seed() -> None:
    first = generate_order(42, 7, "acct", "ready-for-handling", 1_700_000_000.0)
    again = generate_order(42, 7, "acct", "ready-for-handling", 1_700_000_000.0)
    other = generate_order(43, 7, "acct", "ready-for-handling", 1_700_000_000.0)
    assert first == again
    assert other["orderId"] != first["orderId"]


async def test_generated_orders_add_up_and_carry_vtex_ids() -> None:
    for counter in range(1, 40):
        order = generate_order(42, counter, "acct", "ready-for-handling", 1_700_000_000.0)
        assert order["value"] == sum(t["value"] for t in order["totals"])
        items_total = next(t["value"] for t in order["totals"] if t["id"] == "Items")
        assert items_total == sum(i["price"] * i["quantity"] for i in order["items"])
        shipping = next(t["value"] for t in order["totals"] if t["id"] == "Shipping")
        assert shipping == sum(li["price"] for li in order["shippingData"]["logisticsInfo"])
        assert order["paymentData"]["transactions"][0]["payments"][0]["value"] == order["value"]
        assert order["orderId"].endswith("-01") and order["sequence"].isdigit()


async def test_generated_orders_have_every_top_level_key_of_the_official_example() -> None:
    example = json.loads((EXAMPLES / "get-order.openapi-example.json").read_text())
    order = generate_order(42, 1, "acct", "ready-for-handling", 1_700_000_000.0)
    assert set(example) <= set(order)
    assert set(example["items"][0]) - {"bundleItems"} <= set(order["items"][0])
    assert set(example["shippingData"]["logisticsInfo"][0]) <= set(order["shippingData"]["logisticsInfo"][0])


async def test_list_orders_pages_and_filters_by_status(sandbox: Sandbox) -> None:
    await sandbox.orders(20)
    handled = await sandbox.handling()
    page = (await sandbox.http.get("/api/oms/pvt/orders?per_page=15&page=2", headers=AUTH)).json()
    assert page["paging"] == {"total": 21, "pages": 2, "currentPage": 2, "perPage": 15}
    assert len(page["list"]) == 6
    assert all(row["items"] is None for row in page["list"])
    only = (await sandbox.http.get("/api/oms/pvt/orders?f_status=handling", headers=AUTH)).json()
    assert [row["orderId"] for row in only["list"]] == [handled]


async def test_list_orders_caps_at_30_pages(sandbox: Sandbox) -> None:
    await sandbox.orders(35)
    body = (await sandbox.http.get("/api/oms/pvt/orders?per_page=1", headers=AUTH)).json()
    assert body["paging"]["total"] == 35 and body["paging"]["pages"] == 30
    beyond = await sandbox.http.get("/api/oms/pvt/orders?per_page=1&page=31", headers=AUTH)
    assert beyond.status_code == 400
    too_big = await sandbox.http.get("/api/oms/pvt/orders?per_page=101", headers=AUTH)
    assert too_big.status_code == 400


async def test_list_orders_filters_by_creation_date(sandbox: Sandbox) -> None:
    await sandbox.orders(2)
    inside = "creationDate:[2000-01-01T00:00:00.000Z TO 2100-01-01T00:00:00.000Z]"
    outside = "creationDate:[2000-01-01T00:00:00.000Z TO 2000-01-02T00:00:00.000Z]"
    got_in = await sandbox.http.get("/api/oms/pvt/orders", params={"f_creationDate": inside}, headers=AUTH)
    got_out = await sandbox.http.get("/api/oms/pvt/orders", params={"f_creationDate": outside}, headers=AUTH)
    assert got_in.json()["paging"]["total"] == 2
    assert got_out.json()["paging"]["total"] == 0
    open_end = "creationDate:[2000-01-01T00:00:00.000Z TO *]"
    got_open = await sandbox.http.get(
        "/api/oms/pvt/orders", params={"f_creationDate": open_end}, headers=AUTH
    )
    assert got_open.json()["paging"]["total"] == 2
    garbage = await sandbox.http.get(
        "/api/oms/pvt/orders", params={"f_creationDate": "yesterday"}, headers=AUTH
    )
    assert garbage.status_code == 400


async def test_imported_order_is_served_as_is(sandbox: Sandbox) -> None:
    doc = json.loads((EXAMPLES / "get-order.real-2015-fastshop-sandbox-invoiced.json").read_text())
    response = await sandbox.http.post("/_sandbox/orders", json=doc)
    assert response.json() == {"orderIds": [doc["orderId"]]}
    served = await sandbox.order(doc["orderId"])
    assert served == doc
    again = await sandbox.http.post("/_sandbox/orders", json=doc)
    assert again.status_code == 409


async def test_an_internal_failure_answers_vtex_500_and_is_counted(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orderbridge.sandbox import invoices

    def explode(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(invoices, "post_invoice", explode)
    order_id = await sandbox.handling()
    response = await sandbox.post(f"/api/oms/pvt/orders/{order_id}/invoice", {"type": "Output"})
    assert response.status_code == 500
    assert response.json()["error"]["message"] == "An error has occurred"
    assert (await sandbox.stats())["calls"]["invoice"] == {"500": 1}


async def test_an_order_generated_incomplete_is_completed_later_without_a_status_change(
    sandbox: Sandbox,
) -> None:
    created = await sandbox.http.post("/_sandbox/orders", json={"count": 1, "isCompleted": False})
    (order_id,) = created.json()["orderIds"]
    before = await sandbox.order(order_id)
    assert (before["isCompleted"], before["status"]) == (False, "ready-for-handling")

    await sandbox.advance(1)
    completed = await sandbox.http.post(f"/_sandbox/orders/{order_id}/complete")

    assert completed.status_code == 200
    after = await sandbox.order(order_id)
    assert (after["isCompleted"], after["status"]) == (True, "ready-for-handling")
    assert after["lastChange"] > before["lastChange"]
    unknown = await sandbox.http.post("/_sandbox/orders/1-01/complete")
    assert unknown.status_code == 404
    wrong = await sandbox.http.post("/_sandbox/orders", json={"count": 1, "isCompleted": "no"})
    assert wrong.status_code == 400
