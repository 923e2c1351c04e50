"""Fault injection (429 with Retry-After, real rate limit, 5xx, timeouts, latency, feed duplicates
and reordering) and the stats the tests rely on."""

from __future__ import annotations

import time
from typing import Any

import pytest

from orderbridge.sandbox.faults import parse_faults, preset
from orderbridge.sandbox.responses import ProblemError

from .conftest import AUTH, Sandbox, make_config, open_sandbox


async def put_faults(sandbox: Sandbox, body: dict[str, Any]) -> None:
    response = await sandbox.http.put("/_sandbox/faults", json=body)
    assert response.status_code == 200, response.text


async def test_rate_limit_answers_429_with_retry_after_beyond_the_window(sandbox: Sandbox) -> None:
    order_id = (await sandbox.orders())[0]
    await put_faults(sandbox, {"endpoints": {"get_order": {"rate_limit_per_minute": 5}}})
    statuses = [(await sandbox.http.get(f"/api/oms/pvt/orders/{order_id}", headers=AUTH)) for _ in range(7)]
    assert [r.status_code for r in statuses] == [200] * 5 + [429] * 2
    limited = statuses[-1]
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.json()["error"]["code"] == "429"
    await sandbox.advance(61)
    assert (await sandbox.http.get(f"/api/oms/pvt/orders/{order_id}", headers=AUTH)).status_code == 200
    calls = (await sandbox.stats())["calls"]["get_order"]
    assert calls == {"200": 6, "429": 2}


async def test_a_one_second_window_smooths_the_per_minute_quota_to_a_per_second(sandbox: Sandbox) -> None:
    order_id = (await sandbox.orders())[0]
    quota = {"rate_limit_per_minute": 120, "rate_limit_window_s": 1}
    await put_faults(sandbox, {"endpoints": {"get_order": quota}})
    url = f"/api/oms/pvt/orders/{order_id}"
    first = [(await sandbox.http.get(url, headers=AUTH)).status_code for _ in range(3)]
    assert first == [200, 200, 429]  # 120 a minute over 1 s windows = 2 a second
    await sandbox.advance(1.01)
    assert (await sandbox.http.get(url, headers=AUTH)).status_code == 200


async def test_ratio_429_sends_the_configured_retry_after(sandbox: Sandbox) -> None:
    await put_faults(sandbox, {"endpoints": {"*": {"ratio_429": 1.0, "retry_after_s": 2.5}}})
    response = await sandbox.http.get("/api/orders/feed?maxlot=1", headers=AUTH)
    assert response.status_code == 429 and response.headers["Retry-After"] == "3"


async def test_ratio_5xx_fails_vtex_endpoints_but_never_the_admin_api(sandbox: Sandbox) -> None:
    await put_faults(sandbox, {"endpoints": {"*": {"ratio_5xx": 1.0}}})
    response = await sandbox.http.get("/api/oms/pvt/orders/x-01", headers=AUTH)
    assert response.status_code in (500, 502, 503)
    assert (await sandbox.http.get("/_sandbox/stats")).status_code == 200
    assert (await sandbox.http.post("/_sandbox/orders", json={"count": 1})).status_code == 200


async def test_specific_endpoint_faults_override_the_wildcard(sandbox: Sandbox) -> None:
    order_id = (await sandbox.orders())[0]
    await put_faults(sandbox, {"endpoints": {"*": {"ratio_5xx": 1.0}, "get_order": {"ratio_5xx": 0.0}}})
    assert (await sandbox.http.get(f"/api/oms/pvt/orders/{order_id}", headers=AUTH)).status_code == 200
    assert (await sandbox.http.get("/api/oms/pvt/orders", headers=AUTH)).status_code >= 500


async def test_a_faulted_call_changes_nothing(sandbox: Sandbox) -> None:
    order_id = (await sandbox.orders())[0]
    await put_faults(sandbox, {"endpoints": {"start_handling": {"ratio_5xx": 1.0}}})
    assert (await sandbox.post(f"/api/oms/pvt/orders/{order_id}/start-handling")).status_code >= 500
    assert (await sandbox.order(order_id))["status"] == "ready-for-handling"
    assert (await sandbox.stats())["start_handling"] == {}


async def test_timeout_fault_holds_the_request_then_answers_504(sandbox: Sandbox) -> None:
    await put_faults(sandbox, {"endpoints": {"feed_read": {"ratio_timeout": 1.0, "timeout_s": 0.2}}})
    started = time.monotonic()
    response = await sandbox.http.get("/api/orders/feed?maxlot=1", headers=AUTH)
    assert response.status_code == 504
    assert time.monotonic() - started >= 0.2


async def test_latency_is_added_to_vtex_calls(sandbox: Sandbox) -> None:
    await put_faults(sandbox, {"latency_ms": 150})
    started = time.monotonic()
    await sandbox.http.get("/api/orders/feed?maxlot=1", headers=AUTH)
    assert time.monotonic() - started >= 0.15


async def test_faults_round_trip_and_replace_the_whole_config(sandbox: Sandbox) -> None:
    body = {
        "latency_ms": 0,
        "jitter_ms": 0,
        "endpoints": {"invoice": {"ratio_5xx": 0.5, "rate_limit_per_minute": 10}},
        "feed": {"duplicate_ratio": 0.2, "reorder": True, "short_batch_ratio": 0.0},
    }
    await put_faults(sandbox, body)
    assert (await sandbox.http.get("/_sandbox/faults")).json() == body
    await put_faults(sandbox, {})
    assert (await sandbox.http.get("/_sandbox/faults")).json()["endpoints"] == {}


@pytest.mark.parametrize(
    "bad",
    [
        {"endpoints": {"nope": {}}},
        {"endpoints": {"*": {"ratio_5xx": 2}}},
        {"endpoints": {"*": {"unknown": 1}}},
        {"latency_ms": -1},
    ],
)
async def test_invalid_fault_configs_are_400(sandbox: Sandbox, bad: dict[str, Any]) -> None:
    assert (await sandbox.http.put("/_sandbox/faults", json=bad)).status_code == 400


async def test_duplicate_feed_deliveries_share_the_event_id(sandbox: Sandbox) -> None:
    await sandbox.feed_config()
    await sandbox.orders(1)
    await put_faults(sandbox, {"feed": {"duplicate_ratio": 1.0}})
    first = (await sandbox.http.get("/api/orders/feed?maxlot=10", headers=AUTH)).json()
    await put_faults(sandbox, {})
    second = (await sandbox.http.get("/api/orders/feed?maxlot=10", headers=AUTH)).json()
    assert [i["eventId"] for i in second] == [first[0]["eventId"]]
    assert second[0]["handle"] != first[0]["handle"]


async def test_reorder_shuffles_feed_deliveries() -> None:
    client, oms = await open_sandbox(make_config(seed=1))
    async with client:
        sandbox = Sandbox(client, oms)
        await sandbox.feed_config()
        ids = await sandbox.orders(10)
        await put_faults(sandbox, {"feed": {"reorder": True}})
        items = (await client.get("/api/orders/feed?maxlot=10", headers=AUTH)).json()
    assert sorted(i["orderId"] for i in items) == sorted(ids)
    assert [i["orderId"] for i in items] != ids


async def test_short_batches_return_fewer_than_maxlot_from_a_full_queue(sandbox: Sandbox) -> None:
    await sandbox.feed_config()
    await sandbox.orders(10)
    await put_faults(sandbox, {"feed": {"short_batch_ratio": 1.0}})
    first = (await sandbox.http.get("/api/orders/feed?maxlot=10", headers=AUTH)).json()
    assert 1 <= len(first) < 10
    rest = (await sandbox.http.get("/api/orders/feed?maxlot=1", headers=AUTH)).json()
    assert len(rest) == 1


def test_flaky_preset_is_5_percent_5xx_and_429_with_duplicates_and_reorder() -> None:
    flaky = preset("flaky").to_json()
    assert flaky["endpoints"]["*"] == {"ratio_5xx": 0.05, "ratio_429": 0.05, "retry_after_s": 1}
    assert flaky["feed"] == {"duplicate_ratio": 0.1, "reorder": True, "short_batch_ratio": 0.0}
    assert preset("none").is_quiet()
    with pytest.raises(ValueError):
        preset("chaos")


def test_parse_faults_rejects_non_objects() -> None:
    with pytest.raises(ProblemError):
        parse_faults([1])


async def test_flaky_profile_makes_some_calls_fail() -> None:
    client, oms = await open_sandbox(make_config(faults="flaky"))
    async with client:
        sandbox = Sandbox(client, oms)
        order_id = (await sandbox.orders())[0]
        codes = [
            (await client.get(f"/api/oms/pvt/orders/{order_id}", headers=AUTH)).status_code
            for _ in range(300)
        ]
    assert 200 in codes and 429 in codes and any(c >= 500 for c in codes)
    assert codes.count(200) > 240


async def test_stats_report_orders_by_status_and_feed_depth(sandbox: Sandbox) -> None:
    await sandbox.feed_config()
    await sandbox.orders(3)
    await sandbox.handling()
    await sandbox.http.get("/api/orders/feed?maxlot=2", headers=AUTH)
    stats = await sandbox.stats()
    assert stats["orders_by_status"] == {"ready-for-handling": 3, "handling": 1}
    assert stats["orders_total"] == 4
    key = AUTH["X-VTEX-API-AppKey"]
    assert stats["feed"][key] == {"visible": 3, "in_flight": 2}  # 4 ready + 1 handling
    assert stats["feed_depth"] == 5
    assert stats["calls"]["feed_read"] == {"200": 1}
