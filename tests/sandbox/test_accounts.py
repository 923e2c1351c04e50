"""Several accounts in one sandbox: each has its own orders, feed, hook, counters, faults and credentials,
reached at `/{account}/api/...` (VTEX paths without a prefix reach the default account)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest

from orderbridge.sandbox.config import SandboxAccount, SandboxConfig

from .conftest import APP_KEY, AUTH, make_config, open_sandbox
from .test_hook import Receiver, hook_body

OTHER = SandboxAccount("otherstore", "vtexappkey-other", "other-token")
OTHER_AUTH = {"X-VTEX-API-AppKey": OTHER.app_key, "X-VTEX-API-AppToken": OTHER.app_token}
FEED = {
    "filter": {"type": "FromWorkflow", "status": ["ready-for-handling", "handling"]},
    "queue": {"visibilityTimeoutInSeconds": 240, "MessageRetentionPeriodInSeconds": 345600},
}


@pytest.fixture
async def two() -> AsyncIterator[httpx2.AsyncClient]:
    client, _ = await open_sandbox(make_config(more_accounts=(OTHER,)))
    async with client:
        yield client


async def _create(client: httpx2.AsyncClient, count: int, account: str | None = None) -> list[str]:
    params = {"account": account} if account else {}
    response = await client.post("/_sandbox/orders", params=params, json={"count": count})
    assert response.status_code == 200, response.text
    ids: list[str] = response.json()["orderIds"]
    return ids


async def _feed_order_ids(client: httpx2.AsyncClient, prefix: str, auth: dict[str, str]) -> list[str]:
    response = await client.get(f"{prefix}/api/orders/feed?maxlot=10", headers=auth)
    assert response.status_code == 200, response.text
    return [item["orderId"] for item in response.json()]


async def test_each_account_serves_only_its_own_orders_under_its_prefix(two: httpx2.AsyncClient) -> None:
    [mine] = await _create(two, 1)
    [theirs] = await _create(two, 1, OTHER.name)

    assert mine != theirs
    assert (await two.get(f"/otherstore/api/oms/pvt/orders/{theirs}", headers=OTHER_AUTH)).status_code == 200
    assert (await two.get(f"/otherstore/api/oms/pvt/orders/{mine}", headers=OTHER_AUTH)).status_code == 404
    assert (await two.get(f"/api/oms/pvt/orders/{mine}", headers=AUTH)).status_code == 200
    assert (await two.get(f"/testaccount/api/oms/pvt/orders/{mine}", headers=AUTH)).status_code == 200
    assert (await two.get(f"/api/oms/pvt/orders/{theirs}", headers=AUTH)).status_code == 404
    listed = (await two.get("/otherstore/api/oms/pvt/orders", headers=OTHER_AUTH)).json()
    assert [o["orderId"] for o in listed["list"]] == [theirs]


async def test_an_accounts_generated_orders_name_it_as_their_account(two: httpx2.AsyncClient) -> None:
    [theirs] = await _create(two, 1, OTHER.name)

    order = (await two.get(f"/otherstore/api/oms/pvt/orders/{theirs}", headers=OTHER_AUTH)).json()
    assert order["marketplaceServicesEndpoint"].endswith("?an=otherstore")


async def test_another_accounts_credentials_are_unauthorized_like_an_unknown_key(
    two: httpx2.AsyncClient,
) -> None:
    [mine] = await _create(two, 1)
    [theirs] = await _create(two, 1, OTHER.name)

    # The Get-order fast path and the regular endpoints alike: the pair must be the account's own,
    # even for an order that its owner's pair would read.
    assert (await two.get(f"/otherstore/api/oms/pvt/orders/{mine}", headers=AUTH)).status_code == 401
    assert (await two.get(f"/otherstore/api/oms/pvt/orders/{theirs}", headers=AUTH)).status_code == 401
    assert (await two.get(f"/api/oms/pvt/orders/{mine}", headers=OTHER_AUTH)).status_code == 401
    started = await two.post(f"/otherstore/api/oms/pvt/orders/{theirs}/start-handling", headers=AUTH)
    assert started.status_code == 401
    assert started.json() == {"error": {"code": "1", "message": "Unauthorized access", "exception": None}}
    assert (await two.get("/otherstore/api/orders/feed/config", headers=AUTH)).status_code == 401
    ledger = (await two.get("/_sandbox/ledger", params={"account": OTHER.name})).json()
    assert ledger["orders"][theirs]["start_handling"] == 0


async def test_each_account_feeds_only_its_own_events(two: httpx2.AsyncClient) -> None:
    assert (await two.post("/api/orders/feed/config", json=FEED, headers=AUTH)).status_code == 200
    assert (
        await two.post("/otherstore/api/orders/feed/config", json=FEED, headers=OTHER_AUTH)
    ).status_code == 200
    mine = await _create(two, 2)
    theirs = await _create(two, 3, OTHER.name)

    assert sorted(await _feed_order_ids(two, "", AUTH)) == sorted(mine)
    assert sorted(await _feed_order_ids(two, "/otherstore", OTHER_AUTH)) == sorted(theirs)


async def test_a_feed_configured_in_one_account_does_not_exist_in_the_other(two: httpx2.AsyncClient) -> None:
    assert (
        await two.post("/otherstore/api/orders/feed/config", json=FEED, headers=OTHER_AUTH)
    ).status_code == 200

    assert (await two.get("/otherstore/api/orders/feed/config", headers=OTHER_AUTH)).status_code == 200
    assert (await two.get("/api/orders/feed/config", headers=AUTH)).status_code == 404


async def test_stats_and_ledger_answer_per_account_and_default_to_the_first(two: httpx2.AsyncClient) -> None:
    mine = await _create(two, 1)
    theirs = await _create(two, 2, OTHER.name)
    await two.post(f"/otherstore/api/oms/pvt/orders/{theirs[0]}/start-handling", headers=OTHER_AUTH)

    default = (await two.get("/_sandbox/stats")).json()
    other = (await two.get("/_sandbox/stats", params={"account": OTHER.name})).json()
    assert (default["account"], default["orders_total"], default["start_handling"]) == ("testaccount", 1, {})
    assert (other["account"], other["orders_total"]) == (OTHER.name, 2)
    assert other["start_handling"] == {theirs[0]: 1}
    assert other["calls"] == {"start_handling": {"204": 1}}
    assert list((await two.get("/_sandbox/ledger")).json()["orders"]) == mine
    assert sorted(
        (await two.get("/_sandbox/ledger", params={"account": OTHER.name})).json()["orders"]
    ) == sorted(theirs)


async def test_an_unknown_account_is_404_on_the_admin_api_and_on_vtex_paths(two: httpx2.AsyncClient) -> None:
    assert (await two.get("/_sandbox/stats", params={"account": "nostore"})).status_code == 404
    assert (await two.post("/_sandbox/orders", params={"account": "nostore"}, json={})).status_code == 404
    assert (await two.get("/nostore/api/oms/pvt/orders", headers=AUTH)).status_code == 404
    health = (await two.get("/_sandbox/health")).json()
    assert health == {"ok": True, "account": "testaccount", "accounts": ["testaccount", OTHER.name]}


async def test_faults_put_for_one_account_spare_the_others_and_unscoped_faults_reach_all(
    two: httpx2.AsyncClient,
) -> None:
    always_503: dict[str, Any] = {"endpoints": {"list_orders": {"ratio_5xx": 1.0}}}
    assert (
        await two.put("/_sandbox/faults", params={"account": OTHER.name}, json=always_503)
    ).status_code == 200

    assert (await two.get("/otherstore/api/oms/pvt/orders", headers=OTHER_AUTH)).status_code >= 500
    assert (await two.get("/api/oms/pvt/orders", headers=AUTH)).status_code == 200
    assert (await two.get("/_sandbox/faults")).json()["endpoints"] == {}

    assert (await two.put("/_sandbox/faults", json=always_503)).status_code == 200
    assert (await two.get("/api/oms/pvt/orders", headers=AUTH)).status_code >= 500
    assert (await two.put("/_sandbox/faults", json={})).status_code == 200
    assert (await two.get("/otherstore/api/oms/pvt/orders", headers=OTHER_AUTH)).status_code == 200


async def test_a_reset_and_the_clock_concern_every_account(two: httpx2.AsyncClient) -> None:
    await _create(two, 1)
    await _create(two, 1, OTHER.name)
    await two.post("/_sandbox/clock/advance", json={"seconds": 60})

    assert (await two.get("/_sandbox/clock", params={"account": OTHER.name})).json()["offset_s"] == 60
    assert (await two.post("/_sandbox/reset")).status_code == 200
    assert (await two.get("/_sandbox/stats", params={"account": OTHER.name})).json()["orders_total"] == 0
    assert (await two.get("/_sandbox/stats")).json()["orders_total"] == 0
    assert (await two.get("/_sandbox/clock")).json()["offset_s"] == 0


async def test_seed_orders_wait_in_every_accounts_own_feed() -> None:
    client, _ = await open_sandbox(make_config(more_accounts=(OTHER,), seed_orders=2))
    async with client:
        mine = await _feed_order_ids(client, "", AUTH)
        theirs = await _feed_order_ids(client, "/otherstore", OTHER_AUTH)
    assert len(mine) == len(theirs) == 2
    assert not set(mine) & set(theirs)


async def test_each_accounts_hook_is_delivered_with_its_own_origin() -> None:
    receiver = Receiver()
    config = make_config(more_accounts=(OTHER,))
    client, _ = await open_sandbox(config, hook_transport=httpx2.MockTransport(receiver))
    async with client:
        saved = await client.post(
            "/otherstore/api/orders/hook/config", json=hook_body(["ready-for-handling"]), headers=OTHER_AUTH
        )
        assert saved.status_code == 200
        await _create(client, 1)
        [theirs] = await _create(client, 1, OTHER.name)
        await client.post("/_sandbox/clock/advance", json={"seconds": 0})
    [note] = receiver.notifications
    assert note["OrderId"] == theirs
    assert note["Origin"] == {"Account": OTHER.name, "Key": OTHER.app_key}


def test_account_specs_read_name_key_and_token_and_refuse_anything_else() -> None:
    assert SandboxAccount.parse("b-store:key-b:tok:en") == SandboxAccount("b-store", "key-b", "tok:en")
    for spec in ("b-store", "b-store:key-b", "B_Store:key:token", "b-store::token", "b-store:key:"):
        with pytest.raises(ValueError):
            SandboxAccount.parse(spec)


def test_two_accounts_of_one_name_are_refused() -> None:
    with pytest.raises(ValueError, match="unique"):
        SandboxConfig(account_name="shop", more_accounts=(SandboxAccount("shop", APP_KEY, "t"),))
