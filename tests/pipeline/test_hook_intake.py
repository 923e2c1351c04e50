"""Moment 1, push side: the hook receiver answers the ping, checks the secret, stores, then says 200."""

from __future__ import annotations

import json

import httpx2
import pytest
from sqlalchemy import func, select

from orderbridge.pipeline.deps import HOOK_SECRET_HEADER, AccountPolicy
from orderbridge.store import tables
from orderbridge.store.job_rows import job_rows
from orderbridge.vtex import FeedFilter, HookConfig, HookEndpoint

from .conftest import ACCOUNT, IDLE_WAREHOUSE, Harness, HarnessFactory

SECRET = "hook-s3cret"
HOOK_POLICY = AccountPolicy(ACCOUNT, intake="hook", hook_secret=SECRET)
NOTIFICATION = {
    "Domain": "Fulfillment",
    "OrderId": "1000000000001-01",
    "State": "ready-for-handling",
    "LastState": "window-to-cancel",
    "LastChange": "2026-11-27T10:00:00.0000000Z",
    "CurrentChange": "2026-11-27T10:00:01.0000000Z",
    "Origin": {"Account": ACCOUNT, "Key": "vtexappkey-shop"},
}


def api_client(harness: Harness) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(transport=httpx2.ASGITransport(app=harness.api), base_url="http://ob.test")


async def count(harness: Harness, table: object) -> int:
    with harness.db.connect() as session:
        return int((session.execute(select(func.count()).select_from(table))).scalar_one())  # type: ignore[arg-type]


async def test_the_hook_ping_needs_the_secret_too(make_harness: HarnessFactory) -> None:
    # VTEX sends the hook's configured headers with its ping, so the ping can be checked like the rest.
    harness = await make_harness(policy=HOOK_POLICY, start=False)
    async with api_client(harness) as api:
        without = await api.post(f"/hooks/vtex/{ACCOUNT}", json={"hookConfig": "ping"})
        wrong = await api.post(
            f"/hooks/vtex/{ACCOUNT}", json={"hookConfig": "ping"}, headers={HOOK_SECRET_HEADER: "nope"}
        )
        right = await api.post(
            f"/hooks/vtex/{ACCOUNT}", json={"hookConfig": "ping"}, headers={HOOK_SECRET_HEADER: SECRET}
        )
    assert (without.status_code, wrong.status_code, right.status_code) == (401, 401, 200)


async def test_a_notification_without_the_right_secret_is_refused_and_not_stored(
    make_harness: HarnessFactory,
) -> None:
    harness = await make_harness(policy=HOOK_POLICY, start=False)
    async with api_client(harness) as api:
        missing = await api.post(f"/hooks/vtex/{ACCOUNT}", json=NOTIFICATION)
        wrong = await api.post(
            f"/hooks/vtex/{ACCOUNT}", json=NOTIFICATION, headers={HOOK_SECRET_HEADER: "nope"}
        )
    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert await count(harness, tables.intake_events) == 0
    assert await count(harness, tables.jobs) == 0


async def test_a_notification_is_stored_with_its_sync_job_before_the_200(
    make_harness: HarnessFactory,
) -> None:
    harness = await make_harness(policy=HOOK_POLICY, start=False)
    async with api_client(harness) as api:
        first = await api.post(
            f"/hooks/vtex/{ACCOUNT}", json=NOTIFICATION, headers={HOOK_SECRET_HEADER: SECRET}
        )
        again = await api.post(
            f"/hooks/vtex/{ACCOUNT}", json=NOTIFICATION, headers={HOOK_SECRET_HEADER: SECRET}
        )
    assert (first.status_code, again.status_code) == (200, 200)
    assert await count(harness, tables.intake_events) == 1, "a repeated notification is stored once"
    assert await count(harness, tables.jobs) == 1


async def test_the_app_key_a_hook_carries_is_not_stored(make_harness: HarnessFactory) -> None:
    # `Origin.Key` is the account's VTEX appKey, which the configuration treats as a secret.
    harness = await make_harness(policy=HOOK_POLICY, start=False)
    async with api_client(harness) as api:
        response = await api.post(
            f"/hooks/vtex/{ACCOUNT}", json=NOTIFICATION, headers={HOOK_SECRET_HEADER: SECRET}
        )
    assert response.status_code == 200
    with harness.db.connect() as session:
        stored = (session.execute(select(tables.intake_events.c.raw))).scalar_one()
    assert "vtexappkey-shop" not in json.dumps(stored)
    assert stored["Origin"] == {"Account": ACCOUNT}
    assert stored["OrderId"] == NOTIFICATION["OrderId"]


async def test_an_unknown_account_and_a_wrong_secret_get_the_same_401(make_harness: HarnessFactory) -> None:
    # Telling them apart would let anyone enumerate the accounts this service serves.
    harness = await make_harness(policy=HOOK_POLICY, start=False)
    async with api_client(harness) as api:
        unknown = await api.post("/hooks/vtex/other", json=NOTIFICATION, headers={HOOK_SECRET_HEADER: SECRET})
        wrong = await api.post(
            f"/hooks/vtex/{ACCOUNT}", json=NOTIFICATION, headers={HOOK_SECRET_HEADER: "nope"}
        )
    assert (unknown.status_code, wrong.status_code) == (401, 401)
    assert unknown.content == wrong.content
    assert "other" not in unknown.text


async def test_the_secret_is_checked_before_the_body_is_read(make_harness: HarnessFactory) -> None:
    harness = await make_harness(policy=HOOK_POLICY, start=False)
    async with api_client(harness) as api:
        unreadable = await api.post(
            f"/hooks/vtex/{ACCOUNT}", content=b"{not json", headers={HOOK_SECRET_HEADER: "nope"}
        )
        not_a_hook = await api.post("/hooks/vtex/other", json={"what": 1})
    assert (unreadable.status_code, not_a_hook.status_code) == (401, 401)


async def test_orders_notified_by_the_hook_are_handed_over_and_started_once(
    make_harness: HarnessFactory,
) -> None:
    harness = await make_harness(policy=HOOK_POLICY)
    endpoint = HookEndpoint(url=f"http://ob.test/hooks/vtex/{ACCOUNT}", headers={HOOK_SECRET_HEADER: SECRET})
    await harness.client.put_hook_config(
        HookConfig(filter=FeedFilter.from_workflow(list(HOOK_POLICY.feed_statuses)), hook=endpoint)
    )
    order_ids = await harness.create_orders(3)

    async def delivered() -> bool:
        await harness.deliver_hooks()
        return await harness.all_final(order_ids)

    await harness.wait_for(delivered, what="hook-driven orders final")
    stats = await harness.stats()
    assert set(harness.warehouse.handover_counts().values()) == {1}
    assert stats["start_handling"] == {oid: 1 for oid in order_ids}
    assert stats["hooks"]["delivered"] > 0


# A `FromOrders` hook as VTEX sends it for an order's second notification: .NET's `DateTime.MinValue`
# for the change stamp and "unknow" for the state. Two such bodies differ only by `LastChange`.
FROM_ORDERS_POLICY = AccountPolicy(
    ACCOUNT, intake="hook", hook_secret=SECRET, feed_expression='status = "ready-for-handling"'
)
MIN_VALUE = "0001-01-01T00:00:00"


def from_orders_body(order_id: str, last_change: str) -> dict[str, object]:
    return {
        "Domain": "Fulfillment",
        "OrderId": order_id,
        "State": "unknow",
        "LastState": "unknow",
        "LastChange": last_change,
        "CurrentChange": MIN_VALUE,
        "Origin": {"Account": ACCOUNT, "Key": "vtexappkey-shop"},
    }


async def get_order_calls(harness: Harness) -> int:
    return int((await harness.stats())["calls"].get("get_order", {}).get("200", 0))


async def no_unfinished_jobs(harness: Harness) -> bool:
    with harness.db.connect() as session:
        jobs = job_rows(session)
        unfinished = jobs.c.status.in_(tables.UNFINISHED_JOB_STATUSES)
        query = select(func.count()).select_from(jobs).where(unfinished)
        return int((session.execute(query)).scalar_one()) == 0


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_a_second_from_orders_hook_with_min_value_stamps_leads_to_a_second_sync(
    make_harness: HarnessFactory, database: str
) -> None:
    harness = await make_harness(policy=FROM_ORDERS_POLICY, warehouse=IDLE_WAREHOUSE, database=database)
    (order_id,) = await harness.create_orders(1)
    headers = {HOOK_SECRET_HEADER: SECRET}
    async with api_client(harness) as api:
        first = await api.post(
            f"/hooks/vtex/{ACCOUNT}",
            json=from_orders_body(order_id, "2026-11-27T10:00:00.0000000Z"),
            headers=headers,
        )
        assert first.status_code == 200
        await harness.wait_for(lambda: harness.in_state(order_id, "handling"), what="the first sync")
        await harness.wait_for(lambda: no_unfinished_jobs(harness), what="the first sync to end")
        reads = await get_order_calls(harness)

        second = await api.post(
            f"/hooks/vtex/{ACCOUNT}",
            json=from_orders_body(order_id, "2026-11-27T10:05:00.0000000Z"),
            headers=headers,
        )
        assert second.status_code == 200

        async def read_again() -> bool:
            return await get_order_calls(harness) > reads

        await harness.wait_for(read_again, timeout_s=5, what="the second hook's Get order")
    assert set(harness.warehouse.handover_counts().values()) == {1}, "a trigger, not a second handover"


async def test_identical_hook_bodies_with_min_value_stamps_are_stored_once(
    make_harness: HarnessFactory,
) -> None:
    harness = await make_harness(policy=FROM_ORDERS_POLICY, start=False)
    same = from_orders_body("1000000000001-01", "2026-11-27T10:00:00.0000000Z")
    # No usable stamp at all: the body itself tells one notification from another.
    no_stamps = {**same, "LastChange": MIN_VALUE}
    other_body = {**no_stamps, "LastState": "payment-approved"}
    async with api_client(harness) as api:
        for body in (same, same, no_stamps, no_stamps, other_body):
            response = await api.post(
                f"/hooks/vtex/{ACCOUNT}", json=body, headers={HOOK_SECRET_HEADER: SECRET}
            )
            assert response.status_code == 200
    assert await count(harness, tables.intake_events) == 3
    assert await count(harness, tables.jobs) == 1, "waiting syncs of one order coalesce"
