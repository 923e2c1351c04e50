"""Reconciliation finds orders no event announced; an account VTEX refuses is paused, not hammered."""

from __future__ import annotations

import httpx2

from orderbridge.pipeline import operators
from orderbridge.pipeline.deps import AccountPolicy
from orderbridge.vtex import VtexClient

from .conftest import ACCOUNT, APP_KEY, IDLE_WAREHOUSE, SANDBOX_URL, Harness, HarnessFactory


async def test_the_sweep_syncs_orders_whose_events_never_arrived(make_harness: HarnessFactory) -> None:
    # Hook intake with no hook configured at VTEX: no event will ever announce these orders.
    harness = await make_harness(warehouse=IDLE_WAREHOUSE, policy=AccountPolicy(ACCOUNT, intake="hook"))
    order_ids = await harness.create_orders(3)

    enqueued = await harness.pipeline.reconciler.sweep_all()

    assert enqueued == 3
    for order_id in order_ids:
        await harness.wait_for(lambda oid=order_id: harness.in_state(oid, "handling"), what="order started")
    assert await harness.pipeline.reconciler.sweep_all() == 0, "a second sweep finds nothing lagging"


async def test_an_account_whose_key_vtex_refuses_is_paused_and_shown_as_paused(
    make_harness: HarnessFactory,
) -> None:
    harness = await make_harness(warehouse=IDLE_WAREHOUSE, start=False)
    transport = httpx2.ASGITransport(app=harness.app)
    wrong = VtexClient(ACCOUNT, APP_KEY, "not-the-token", base_url=SANDBOX_URL, transport=transport)
    harness.pipeline.deps.clients = {ACCOUNT: wrong}

    await harness.start()
    await harness.wait_for(lambda: _paused(harness), what="account paused")

    status = await operators.status(harness.db)
    assert status["accounts"][ACCOUNT]["paused"] is True
    assert "not-the-token" not in (status["accounts"][ACCOUNT]["paused_reason"] or "")
    assert "feed_read" not in (await harness.stats())["calls"]
    await wrong.aclose()


async def _paused(harness: Harness) -> bool:
    return ACCOUNT in harness.pipeline.deps.paused
