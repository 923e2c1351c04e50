"""A rate limit held in PostgreSQL paces every process of a cluster together (GCRA in one row)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from orderbridge.store.rate_limits import SharedRateLimits, SharedTokenBucket

pytestmark = pytest.mark.postgres


@pytest.fixture
async def processes(migrated_postgres_url: str) -> AsyncIterator[list[SharedRateLimits]]:
    """Three processes' worth of limits: each its own pool of connections, as separate hosts would have."""
    limits = [SharedRateLimits(migrated_postgres_url) for _ in range(3)]
    for each in limits:
        await each.open()
    try:
        yield limits
    finally:
        for each in limits:
            await each.close()


async def _send(bucket: SharedTokenBucket, calls: int, sent: list[float]) -> None:
    for _ in range(calls):
        await bucket.acquire()
        sent.append(time.monotonic())


async def test_processes_sharing_an_account_send_at_its_rate_together(
    processes: list[SharedRateLimits],
) -> None:
    # Each process alone would be allowed 40/s: three in-process buckets would send 120/s together.
    buckets = [p.bucket("acme:get_order", 40, 1) for p in processes]
    sent: list[float] = []
    started = time.monotonic()
    await asyncio.gather(*(_send(b, 30, sent) for b in buckets for _ in range(2)))
    elapsed = time.monotonic() - started
    assert len(sent) == 180
    # The schedule's slots are 1/40 s apart whoever takes them: 180 calls span at least 179 intervals
    # (a late wake-up only adds to that). Unshared buckets would be done in a third of it.
    assert elapsed >= (180 - 1) / 40 * 0.95


async def test_a_quiet_account_lets_its_burst_through_at_once(processes: list[SharedRateLimits]) -> None:
    first, second = processes[0].bucket("quiet:all", 2, 4), processes[1].bucket("quiet:all", 2, 4)
    waits = [await first.acquire(), await second.acquire(), await first.acquire(), await second.acquire()]
    assert waits == [0.0, 0.0, 0.0, 0.0]
    assert await first.acquire() > 0.3  # the fifth call waits for the pace (one call per 0.5 s)


async def test_each_account_and_endpoint_class_has_its_own_schedule(
    processes: list[SharedRateLimits],
) -> None:
    busy = processes[0].bucket("busy:get_order", 1, 1)
    await busy.acquire()  # the next call of this key must wait a second
    other_key = processes[1].bucket("busy:all", 1, 1)
    other_account = processes[2].bucket("calm:get_order", 1, 1)
    assert await other_key.acquire() == 0.0
    assert await other_account.acquire() == 0.0
