"""Feed v3: queue semantics, handles, visibility timeout, retention, configuration, JSONata."""

from __future__ import annotations

import json

import pytest

from .conftest import AUTH, Sandbox, make_config, open_sandbox


async def read(sandbox: Sandbox, maxlot: int = 10) -> list[dict[str, str]]:
    response = await sandbox.http.get(f"/api/orders/feed?maxlot={maxlot}", headers=AUTH)
    assert response.status_code == 200, response.text
    items: list[dict[str, str]] = response.json()
    return items


async def commit(sandbox: Sandbox, handles: list[str]) -> None:
    response = await sandbox.post("/api/orders/feed", {"handles": handles})
    assert response.status_code == 200


async def test_feed_without_config_is_404(sandbox: Sandbox) -> None:
    response = await sandbox.http.get("/api/orders/feed?maxlot=1", headers=AUTH)
    assert response.status_code == 404
    assert (await sandbox.http.get("/api/orders/feed/config", headers=AUTH)).status_code == 404


async def test_seed_orders_wait_in_a_preconfigured_feed() -> None:
    client, _ = await open_sandbox(make_config(seed_orders=3))
    async with client:
        items = (await client.get("/api/orders/feed?maxlot=10", headers=AUTH)).json()
        config = (await client.get("/api/orders/feed/config", headers=AUTH)).json()
    assert sorted(i["state"] for i in items) == ["ready-for-handling"] * 3
    assert config["filter"]["status"] == [
        "ready-for-handling",
        "handling",
        "cancellation-requested",
        "canceled",
        "invoiced",
    ]
    assert set(items[0]) == {
        "eventId",
        "handle",
        "domain",
        "state",
        "lastState",
        "orderId",
        "lastChange",
        "currentChange",
    }


@pytest.mark.parametrize("maxlot", ["0", "11", "x"])
async def test_maxlot_outside_1_to_10_is_400(sandbox: Sandbox, maxlot: str) -> None:
    await sandbox.feed_config()
    response = await sandbox.http.get(f"/api/orders/feed?maxlot={maxlot}", headers=AUTH)
    assert response.status_code == 400


async def test_read_returns_at_most_maxlot_and_hides_what_it_returned(sandbox: Sandbox) -> None:
    await sandbox.feed_config()
    await sandbox.orders(5)
    first = await read(sandbox, 3)
    rest = await read(sandbox, 10)
    assert len(first) == 3 and len(rest) == 2
    assert not {i["eventId"] for i in first} & {i["eventId"] for i in rest}
    assert await read(sandbox) == []


async def test_events_only_follow_changes_after_the_feed_exists(sandbox: Sandbox) -> None:
    await sandbox.orders(2)
    await sandbox.feed_config()
    assert await read(sandbox) == []


async def test_feed_event_is_redelivered_after_the_visibility_timeout(sandbox: Sandbox) -> None:
    await sandbox.feed_config(visibility=60)
    await sandbox.orders(1)
    first = await read(sandbox)
    await sandbox.advance(59)
    assert await read(sandbox) == []
    await sandbox.advance(2)
    again = await read(sandbox)
    assert [i["eventId"] for i in again] == [first[0]["eventId"]]
    assert again[0]["handle"] != first[0]["handle"]


async def test_committed_event_is_not_redelivered(sandbox: Sandbox) -> None:
    await sandbox.feed_config(visibility=60)
    await sandbox.orders(1)
    first = await read(sandbox)
    await commit(sandbox, [first[0]["handle"]])
    await sandbox.advance(61)
    assert await read(sandbox) == []
    assert (await sandbox.stats())["feed_depth"] == 0


async def test_a_superseded_handle_does_not_commit_by_default(sandbox: Sandbox) -> None:
    await sandbox.feed_config(visibility=10)
    await sandbox.orders(1)
    old = (await read(sandbox))[0]["handle"]
    await sandbox.advance(11)
    new = (await read(sandbox))[0]["handle"]
    await commit(sandbox, [old, "not-a-handle"])
    await sandbox.advance(11)
    assert len(await read(sandbox)) == 1
    await sandbox.advance(11)
    latest = (await read(sandbox))[0]["handle"]
    assert latest != new
    await commit(sandbox, [latest])
    await sandbox.advance(11)
    assert await read(sandbox) == []


async def test_a_superseded_handle_commits_when_configured() -> None:
    client, oms = await open_sandbox(make_config(stale_handle_commits=True))
    async with client:
        sandbox = Sandbox(client, oms)
        await sandbox.feed_config(visibility=10)
        await sandbox.orders(1)
        old = (await read(sandbox))[0]["handle"]
        await sandbox.advance(11)
        await read(sandbox)
        await commit(sandbox, [old])
        await sandbox.advance(11)
        assert await read(sandbox) == []


async def test_events_expire_after_the_retention_period(sandbox: Sandbox) -> None:
    await sandbox.feed_config()
    await sandbox.orders(1)
    await sandbox.advance(345599)
    await sandbox.orders(1)  # keeps the feed alive
    assert (await sandbox.stats())["feed_depth"] == 2
    await sandbox.advance(2)
    assert len(await read(sandbox)) == 1


async def test_feed_config_is_removed_when_no_event_arrives_for_the_retention_period(
    sandbox: Sandbox,
) -> None:
    await sandbox.feed_config()
    await sandbox.advance(345601)
    assert (await sandbox.http.get("/api/orders/feed?maxlot=1", headers=AUTH)).status_code == 404


async def test_feed_status_filter_decides_which_changes_enter(sandbox: Sandbox) -> None:
    await sandbox.feed_config(statuses=["handling"])
    order_id = await sandbox.handling()
    items = await read(sandbox)
    assert [(i["orderId"], i["state"], i["lastState"]) for i in items] == [
        (order_id, "handling", "start-handling")
    ]


async def test_feed_config_round_trip_and_delete(sandbox: Sandbox) -> None:
    await sandbox.feed_config(statuses=["invoiced"], visibility=250)
    await sandbox.orders(1)
    config = (await sandbox.http.get("/api/orders/feed/config", headers=AUTH)).json()
    assert config["filter"] == {"type": "FromWorkflow", "status": ["invoiced"]}
    assert config["queue"] == {"visibilityTimeoutInSeconds": 250, "messageRetentionPeriodInSeconds": 345600}
    assert config["quantity"] == 0
    assert (await sandbox.http.delete("/api/orders/feed/config", headers=AUTH)).status_code == 200
    assert (await sandbox.http.get("/api/orders/feed?maxlot=1", headers=AUTH)).status_code == 404
    assert (await sandbox.http.delete("/api/orders/feed/config", headers=AUTH)).status_code == 404


async def test_mixing_workflow_and_orders_filters_is_409(sandbox: Sandbox) -> None:
    body = {
        "filter": {"type": "FromWorkflow", "status": ["handling"], "expression": "value > 1"},
        "queue": {"visibilityTimeoutInSeconds": 240, "MessageRetentionPeriodInSeconds": 345600},
    }
    assert (await sandbox.post("/api/orders/feed/config", body)).status_code == 409


async def test_feed_config_without_queue_is_400_problem_details(sandbox: Sandbox) -> None:
    response = await sandbox.post("/api/orders/feed/config", {"filter": {"type": "FromWorkflow"}})
    assert response.status_code == 400
    assert response.json()["errors"] == {"Queue": ["The Queue field is required."]}


async def test_retention_outside_4_to_14_days_is_400(sandbox: Sandbox) -> None:
    body = {
        "filter": {"type": "FromWorkflow"},
        "queue": {"visibilityTimeoutInSeconds": 240, "MessageRetentionPeriodInSeconds": 60},
    }
    assert (await sandbox.post("/api/orders/feed/config", body)).status_code == 400


async def test_feed_without_filter_takes_every_status_change(sandbox: Sandbox) -> None:
    body = {"queue": {"visibilityTimeoutInSeconds": 240, "MessageRetentionPeriodInSeconds": 345600}}
    assert (await sandbox.post("/api/orders/feed/config", body)).status_code == 200
    await sandbox.handling()
    assert sorted(i["state"] for i in await read(sandbox)) == [
        "handling",
        "ready-for-handling",
        "start-handling",
    ]


async def test_from_orders_fires_once_per_order_unless_single_fire_is_disabled(sandbox: Sandbox) -> None:
    queue = {"visibilityTimeoutInSeconds": 240, "MessageRetentionPeriodInSeconds": 345600}
    once = {
        "filter": {"type": "FromOrders", "expression": "value > 0", "disableSingleFire": False},
        "queue": queue,
    }
    assert (await sandbox.post("/api/orders/feed/config", once)).status_code == 200
    await sandbox.handling()
    assert len(await read(sandbox)) == 1
    every = {
        "filter": {"type": "FromOrders", "expression": "value > 0", "disableSingleFire": True},
        "queue": queue,
    }
    assert (await sandbox.post("/api/orders/feed/config", every)).status_code == 200
    await sandbox.handling()
    assert len(await read(sandbox)) == 3  # created, start-handling, handling


async def test_from_orders_with_a_broken_expression_is_400(sandbox: Sandbox) -> None:
    body = {
        "filter": {"type": "FromOrders", "expression": "status = "},
        "queue": {"visibilityTimeoutInSeconds": 240, "MessageRetentionPeriodInSeconds": 345600},
    }
    assert (await sandbox.post("/api/orders/feed/config", body)).status_code == 400


async def test_jsonata_endpoint_evaluates_against_a_document(sandbox: Sandbox) -> None:
    order = {"status": "ready-for-handling", "salesChannel": "2"}
    yes = await sandbox.post(
        "/api/orders/expressions/jsonata",
        {"Expression": '(status = "ready-for-handling" and salesChannel="2")', "Document": json.dumps(order)},
    )
    no = await sandbox.post(
        "/api/orders/expressions/jsonata", {"Expression": "missing.field = 1", "Document": json.dumps(order)}
    )
    assert yes.json() is True and no.json() is False
    bad = await sandbox.post("/api/orders/expressions/jsonata", {"Expression": "x"})
    assert bad.status_code == 400


async def test_each_app_key_has_its_own_feed() -> None:
    client, oms = await open_sandbox(make_config(extra_credentials={"key-b": "token-b"}))
    async with client:
        sandbox = Sandbox(client, oms)
        await sandbox.feed_config()
        await sandbox.orders(1)
        other = {"X-VTEX-API-AppKey": "key-b", "X-VTEX-API-AppToken": "token-b"}
        assert (await client.get("/api/orders/feed?maxlot=1", headers=other)).status_code == 404
        assert len(await read(sandbox)) == 1


async def test_commit_without_handles_is_400(sandbox: Sandbox) -> None:
    await sandbox.feed_config()
    assert (await sandbox.post("/api/orders/feed", {"nothing": []})).status_code == 400
