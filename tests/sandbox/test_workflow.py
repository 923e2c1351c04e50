"""Grace period, asynchronous cancel, the shopper's cancellation and its denial."""

from __future__ import annotations

from .conftest import AUTH, Sandbox, make_config, open_sandbox


async def test_grace_period_moves_window_to_cancel_to_ready_for_handling() -> None:
    client, oms = await open_sandbox(make_config(grace_period_s=1800))
    async with client:
        sandbox = Sandbox(client, oms)
        await sandbox.feed_config(statuses=["window-to-cancel", "ready-for-handling"])
        order_id = (await sandbox.orders())[0]
        assert (await sandbox.order(order_id))["status"] == "window-to-cancel"
        await sandbox.advance(1799)
        assert (await sandbox.order(order_id))["status"] == "window-to-cancel"
        await sandbox.advance(2)
        assert (await sandbox.order(order_id))["status"] == "ready-for-handling"
        items = (await client.get("/api/orders/feed?maxlot=10", headers=AUTH)).json()
        assert [(i["state"], i["lastState"]) for i in items] == [
            ("window-to-cancel", "payment-approved"),
            ("ready-for-handling", "window-to-cancel"),
        ]


async def test_cancel_answers_a_receipt_and_settles_asynchronously(sandbox: Sandbox) -> None:
    order_id = await sandbox.handling()
    response = await sandbox.post(f"/api/oms/pvt/orders/{order_id}/cancel", {"reason": "ERP said no"})
    assert response.status_code == 200
    assert set(response.json()) == {"date", "orderId", "receipt"} and len(response.json()["receipt"]) == 32
    assert (await sandbox.order(order_id))["status"] == "cancel"
    await sandbox.advance(1)
    order = await sandbox.order(order_id)
    assert order["status"] == "canceled" and order["cancelReason"] == "ERP said no"
    assert (await sandbox.stats())["cancels"] == {order_id: 1}


async def test_repeated_cancel_returns_the_same_receipt_and_counts_once(sandbox: Sandbox) -> None:
    order_id = await sandbox.handling()
    first = (await sandbox.post(f"/api/oms/pvt/orders/{order_id}/cancel", {"reason": "x"})).json()
    await sandbox.advance(1)
    second = await sandbox.post(f"/api/oms/pvt/orders/{order_id}/cancel", {"reason": "x"})
    assert second.status_code == 200 and second.json() == first
    assert (await sandbox.stats())["cancels"] == {order_id: 1}


async def test_customer_cancel_inside_the_grace_period_cancels() -> None:
    client, oms = await open_sandbox(make_config(grace_period_s=600))
    async with client:
        sandbox = Sandbox(client, oms)
        order_id = (await sandbox.orders())[0]
        response = await client.post(f"/_sandbox/orders/{order_id}/customer-cancel", json={"reason": "oops"})
        assert response.status_code == 200
        await sandbox.advance(1)
        assert (await sandbox.order(order_id))["status"] == "canceled"
        await sandbox.advance(700)
        assert (await sandbox.order(order_id))["status"] == "canceled"


async def test_customer_cancel_after_the_grace_period_requests_cancellation(sandbox: Sandbox) -> None:
    order_id = await sandbox.handling()
    response = await sandbox.http.post(
        f"/_sandbox/orders/{order_id}/customer-cancel", json={"reason": "late"}
    )
    assert response.status_code == 200
    order = await sandbox.order(order_id)
    assert order["status"] == "cancellation-requested"
    request = order["cancellationRequests"][0]
    assert request["reason"] == "late" and request["requestedByUser"] is True
    accept = await sandbox.post(f"/api/oms/pvt/orders/{order_id}/cancel", {"reason": "accepted"})
    assert accept.status_code == 200
    await sandbox.advance(1)
    assert (await sandbox.order(order_id))["status"] == "canceled"


async def test_denying_a_cancellation_request_restores_the_previous_status(sandbox: Sandbox) -> None:
    order_id = await sandbox.handling()
    await sandbox.http.post(f"/_sandbox/orders/{order_id}/customer-cancel", json={"reason": "late"})
    request_id = (await sandbox.order(order_id))["cancellationRequests"][0]["id"]
    path = f"/api/orders/pvt/document/{order_id}/deny-cancellation-request"
    wrong = await sandbox.post(path, {"cancellationRequestId": "nope", "denyReason": "shipped"})
    assert wrong.status_code == 400
    denied = await sandbox.post(path, {"cancellationRequestId": request_id, "denyReason": "shipped"})
    assert denied.status_code == 200
    order = await sandbox.order(order_id)
    assert order["status"] == "handling"
    assert order["cancellationRequests"][0]["deniedBySeller"] is True
    assert (await sandbox.post(path, {"cancellationRequestId": request_id})).status_code == 400


async def test_customer_cancel_of_an_invoiced_order_is_refused(sandbox: Sandbox) -> None:
    order_id = await sandbox.handling()
    await sandbox.post(f"/api/oms/pvt/orders/{order_id}/cancel", {"reason": "x"})
    response = await sandbox.http.post(f"/_sandbox/orders/{order_id}/customer-cancel", json={})
    assert response.status_code == 409


async def test_seller_cancel_can_be_configured_to_only_request_cancellation() -> None:
    client, oms = await open_sandbox(make_config(seller_cancel_mode="request"))
    async with client:
        sandbox = Sandbox(client, oms)
        order_id = await sandbox.handling()
        await sandbox.post(f"/api/oms/pvt/orders/{order_id}/cancel", {"reason": "x"})
        assert (await sandbox.order(order_id))["status"] == "cancellation-requested"
        await sandbox.post(f"/api/oms/pvt/orders/{order_id}/cancel", {"reason": "x"})
        await sandbox.advance(1)
        assert (await sandbox.order(order_id))["status"] == "canceled"


async def test_reset_forgets_everything(sandbox: Sandbox) -> None:
    await sandbox.feed_config()
    await sandbox.orders(3)
    await sandbox.advance(100)
    assert (await sandbox.http.post("/_sandbox/reset")).status_code == 200
    stats = await sandbox.stats()
    assert stats["orders_total"] == 0 and stats["feed"] == {} and stats["calls"] == {}
    clock = (await sandbox.http.get("/_sandbox/clock")).json()
    assert clock["offset_s"] == 0


async def test_generate_rejects_unknown_statuses(sandbox: Sandbox) -> None:
    response = await sandbox.http.post("/_sandbox/orders", json={"count": 1, "status": "teleported"})
    assert response.status_code == 400


async def test_reset_restores_the_seeded_start_state() -> None:
    client, oms = await open_sandbox(make_config(seed_orders=2))
    async with client:
        sandbox = Sandbox(client, oms)
        first = [i["orderId"] for i in (await client.get("/api/orders/feed?maxlot=10", headers=AUTH)).json()]
        await sandbox.orders(3)
        await client.post("/_sandbox/reset")
        again = [i["orderId"] for i in (await client.get("/api/orders/feed?maxlot=10", headers=AUTH)).json()]
        assert sorted(again) == sorted(first)
        assert (await sandbox.stats())["orders_total"] == 2


async def test_orders_can_be_generated_straight_into_handling(sandbox: Sandbox) -> None:
    await sandbox.feed_config(statuses=["handling"])
    order_id = (await sandbox.orders(1, "handling"))[0]
    assert (await sandbox.order(order_id))["status"] == "handling"
    items = (await sandbox.http.get("/api/orders/feed?maxlot=10", headers=AUTH)).json()
    assert [(i["state"], i["lastState"]) for i in items] == [("handling", "start-handling")]


async def test_admin_api_refuses_non_loopback_callers() -> None:
    import httpx2

    from orderbridge.sandbox.app import create_app

    app = create_app(make_config())
    transport = httpx2.ASGITransport(app=app, client=("10.1.2.3", 5555))
    async with httpx2.AsyncClient(transport=transport, base_url="http://sandbox") as client:
        assert (await client.get("/_sandbox/stats")).status_code == 403
