"""A VTEX outage is waited out in the order's lane: it never spends the attempts that park a poison job.

The queue parks a job after `max_attempts` failed runs so that a job which fails whatever the world
does (or kills its worker) stops. A VTEX answering 5xx is the world: the order must go on when VTEX
comes back, however long the outage lasted, and a call that may have landed is sent again once a
re-read shows it did not (VTEX refuses a second start-handling on an order already handling, so
sending it again cannot double it).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orderbridge.jobs.port import Job
from orderbridge.pipeline.deps import Timing
from orderbridge.pipeline.outages import outage_delay_s, wait_out
from orderbridge.store import repo

from .conftest import ACCOUNT, HarnessFactory

FEW_ATTEMPTS = {"max_attempts": 3}


async def _attempts(harness: object, order_id: str, action: str, outcome: str) -> int:
    with harness.db.connect() as conn:  # type: ignore[attr-defined]
        rows = repo.list_attempts(conn, ACCOUNT, order_id)
    return sum(1 for row in rows if row.action == action and row.outcome == outcome)


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
async def test_a_start_handling_that_did_not_land_is_sent_again_until_vtex_takes_it(
    make_harness: HarnessFactory, database: str
) -> None:
    harness = await make_harness(queue_options=FEW_ATTEMPTS, database=database)
    await harness.faults({"endpoints": {"start_handling": {"ratio_5xx": 1.0}}})
    [order_id] = await harness.create_orders(1)

    async def failed_more_than_the_attempts() -> bool:
        return (
            await _attempts(harness, order_id, "start_handling", "unknown") > 2 * FEW_ATTEMPTS["max_attempts"]
        )

    await harness.wait_for(failed_more_than_the_attempts, what="start-handling failing past the attempts")
    await harness.faults({})

    async def handling() -> bool:
        return (await harness.vtex_order(order_id))["status"] != "ready-for-handling"

    await harness.wait_for(handling, what="start-handling to land once VTEX answers again")
    assert not await harness.pipeline.queue.list_parked(), "an outage parks no job"
    assert (await harness.stats())["start_handling"][order_id] == 1


async def test_an_order_vtex_cannot_read_for_a_while_goes_on_when_vtex_answers_again(
    make_harness: HarnessFactory,
) -> None:
    harness = await make_harness(queue_options=FEW_ATTEMPTS)
    await harness.faults({"endpoints": {"get_order": {"ratio_5xx": 1.0}}})
    [order_id] = await harness.create_orders(1)

    async def read_failed_past_the_attempts() -> bool:
        calls = (await harness.stats())["calls"].get("get_order", {})
        failed = sum(count for status, count in calls.items() if status.startswith("5"))
        return failed > 4 * FEW_ATTEMPTS["max_attempts"]

    await harness.wait_for(read_failed_past_the_attempts, what="Get order failing past the attempts")
    await harness.faults({})
    await harness.wait_for(lambda: harness.all_final([order_id]), what="the order to complete")
    assert not await harness.pipeline.queue.list_parked()


def _job(age_s: float, now: datetime) -> Job:
    return Job(1, "sync_order", "shop:1", {}, 1, now - timedelta(seconds=age_s))


def test_an_outage_wait_grows_with_the_time_the_job_has_been_trying_within_bounds() -> None:
    timing = Timing(vtex_outage_retry_s=1.0, vtex_outage_retry_max_s=60.0)
    assert outage_delay_s(timing, 0.0) == 1.0
    assert outage_delay_s(timing, 40.0) == 10.0
    assert outage_delay_s(timing, 3600.0) == 60.0


def test_an_outage_wait_gives_its_attempt_back() -> None:
    now = datetime(2026, 12, 6, tzinfo=UTC)
    wait = wait_out(Timing(), _job(8.0, now).enqueued_at, now, "VTEX unavailable")
    assert wait.count_attempt is False
    assert wait.delay_s == 2.0
