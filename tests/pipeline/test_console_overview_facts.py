"""The Overview's intake lag and pending jobs, over a real pipeline: what the page and `/metrics` say
must match what is waiting in the store."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import httpx2
import pytest
from sqlalchemy import update

from orderbridge.api.app import create_api
from orderbridge.pipeline.deps import SYNC_ORDER, AccountPolicy, lock_of
from orderbridge.pipeline.incomplete import RECHECK_ORDER, recheck_lock
from orderbridge.pipeline.intake import IncomingEvent, store_events
from orderbridge.store import tables
from orderbridge.store.types import utcnow

from .conftest import ACCOUNT, IDLE_WAREHOUSE, Harness, HarnessFactory
from .test_console_metrics import _samples, _value

TOKEN = "overview-facts-token"
#: Events reach this account only when a test stores one: no feed poller reads the sandbox's feed.
HOOK_ONLY = AccountPolicy(ACCOUNT, intake="hook")


async def _overview(harness: Harness) -> str:
    """The Overview's HTML, signed in with a token as a browser would."""
    app = create_api(harness.pipeline, [TOKEN])
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://api.test") as http:
        form = (await http.get("/ui/login")).text
        nonce = re.search(r'name="nonce" value="([^"]+)"', form)
        assert nonce, form
        signed_in = await http.post("/ui/login", data={"token": TOKEN, "nonce": nonce.group(1)})
        assert signed_in.status_code == 303, signed_in.text
        page = await http.get("/ui")
    assert page.status_code == 200
    return page.text


def _fact(page: str, name: str) -> tuple[str, str]:
    """(the `data-*` value, the text) of one of the account's facts."""
    section = page[page.index(f'data-account="{ACCOUNT}"') :]
    found = re.search(rf'<dd data-fact="{name}" data-value="([^"]*)"[^>]*>(.*?)</dd>', section, re.S)
    assert found, section[:3000]
    return found.group(1), re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", found.group(2))).strip()


async def _lag_metric(harness: Harness) -> float:
    transport = httpx2.ASGITransport(app=harness.api)
    async with httpx2.AsyncClient(transport=transport, base_url="http://api.test") as http:
        text = (await http.get("/metrics")).text
    assert "orderbridge_intake_lag_seconds" in text, text
    return _value(_samples(text), "orderbridge_intake_lag_seconds", account=ACCOUNT)


async def _event_received(harness: Harness, order_id: str, seconds_ago: float) -> None:
    """A hook event for the order, stored (with its sync enqueued) as the receiver does, `seconds_ago`."""
    event = IncomingEvent(order_id, "ready-for-handling", "payment-approved", None, {"OrderId": order_id})
    assert await store_events(harness.pipeline.deps, ACCOUNT, "hook", [event]) == 1
    events = tables.intake_events
    with harness.db.begin() as session:
        session.execute(
            update(events)
            .where(events.c.order_id == order_id)
            .values(received_at=utcnow() - timedelta(seconds=seconds_ago))
        )


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_an_event_stored_but_not_synced_shows_its_age_as_intake_lag_until_its_order_is_synced(
    make_harness: HarnessFactory, database: str
) -> None:
    harness = await make_harness(warehouse=IDLE_WAREHOUSE, policy=HOOK_ONLY, database=database, start=False)
    (order_id,) = await harness.create_orders(1)
    await _event_received(harness, order_id, seconds_ago=90)

    waiting, waiting_text = _fact(await _overview(harness), "intake-lag")
    waiting_metric = await _lag_metric(harness)

    assert 90 <= float(waiting) < 120 and 90 <= waiting_metric < 120
    assert re.match(r"1 min \d\d? s behind: 1 event of 1 order waiting", waiting_text), waiting_text

    await harness.start()
    await harness.wait_for(lambda: harness.in_state(order_id, "handling"), what="the order synced")

    caught_up, caught_up_text = _fact(await _overview(harness), "intake-lag")
    assert (caught_up, caught_up_text) == ("0", "caught up")
    assert await _lag_metric(harness) == 0


async def test_an_event_about_an_order_synced_after_it_is_not_lag_when_another_sync_waits(
    make_harness: HarnessFactory,
) -> None:
    harness = await make_harness(warehouse=IDLE_WAREHOUSE, policy=HOOK_ONLY, start=False)
    (order_id,) = await harness.create_orders(1)
    await _event_received(harness, order_id, seconds_ago=3600)
    await harness.start()
    await harness.wait_for(lambda: harness.in_state(order_id, "handling"), what="the order synced")
    await harness.shutdown()

    # A sync asked for by something else than an event (a relay's re-read, an operator's retry):
    # the hour-old event was read long ago, so nothing of the intake is late.
    with harness.db.begin() as session:
        harness.pipeline.queue.enqueue(
            session,
            kind=SYNC_ORDER,
            lock=lock_of(ACCOUNT, order_id),
            payload={"account": ACCOUNT, "order_id": order_id},
        )

    assert _fact(await _overview(harness), "intake-lag") == ("0", "caught up")
    assert await _lag_metric(harness) == 0


async def test_the_overview_says_which_pending_jobs_are_running_due_or_scheduled_later_and_their_kinds(
    make_harness: HarnessFactory,
) -> None:
    harness = await make_harness(start=False)
    queue = harness.pipeline.queue
    with harness.db.begin() as session:
        for n in range(2):
            queue.enqueue(session, kind=SYNC_ORDER, lock=lock_of(ACCOUNT, f"o{n}"), payload={})
        # An incomplete order's re-check, due in ten minutes: waiting, not stuck.
        queue.enqueue(
            session,
            kind=RECHECK_ORDER,
            lock=recheck_lock(ACCOUNT, "o9"),
            payload={},
            run_at=utcnow() + timedelta(minutes=10),
        )
    jobs = tables.jobs
    with harness.db.begin() as session:  # one sync claimed by a worker
        first = jobs.c.lock == lock_of(ACCOUNT, "o0")
        claimed = {"status": "running", "lease_until": time.time() + 60}
        session.execute(update(jobs).where(first).values(**claimed))

    pending, text = _fact(await _overview(harness), "jobs-pending")

    assert pending == "3"
    assert text.startswith("3 pending: 1 running, 1 due now, 1 scheduled later"), text
    assert "order syncs 2" in text and "re-checks of incomplete orders 1" in text, text
