"""On procrastinate (PostgreSQL) a wait for VTEX holds no worker: a 429's `Retry-After`, however short,
becomes a scheduled retry (`RetryLater`), so the slot runs other orders' jobs meanwhile; the waiting
job keeps its order's lane (procrastinate's `lock`: a later job of the same order does not overtake it)."""

from __future__ import annotations

import asyncio
import time

import httpx2
import pytest

from jobs.queue_harness import PostgresHarness, eventually, running
from orderbridge.jobs.errors import RetryLater
from orderbridge.jobs.port import Job
from orderbridge.pipeline.runtime import build_queue, opened
from orderbridge.store.db import Database
from orderbridge.vtex import RateLimited, VtexClient

pytestmark = pytest.mark.postgres

RETRY_AFTER_S = 2.0


def vtex_answering_429_once(order_id: str) -> httpx2.MockTransport:
    """VTEX: the first Get order of `order_id` is answered 429 with a short Retry-After, all else 200."""
    refused: list[str] = []

    def answer(request: httpx2.Request) -> httpx2.Response:
        wanted = request.url.path.rsplit("/", 1)[-1]
        if wanted == order_id and not refused:
            refused.append(wanted)
            return httpx2.Response(429, headers={"Retry-After": f"{RETRY_AFTER_S:g}"})
        return httpx2.Response(200, json={"orderId": wanted, "status": "ready-for-handling"})

    return httpx2.MockTransport(answer)


async def test_a_short_retry_after_frees_the_only_worker_for_another_order_and_keeps_the_orders_lane(
    pg: PostgresHarness,
) -> None:
    client = VtexClient(
        "acme", "key", "token", base_url="http://vtex.test", transport=vtex_answering_429_once("o1")
    )
    done: list[tuple[str, int, float]] = []

    async def sync(job: Job) -> None:
        order_id = job.payload["order"]
        try:
            await client.get_order(order_id)
        except RateLimited as error:  # what `pipeline.vtex_calls.vtex_call` does
            raise RetryLater(error.retry_after, "get_order: rate limited", count_attempt=False) from error
        done.append((order_id, job.payload["n"], time.monotonic()))

    db = Database(pg.url)
    queue = build_queue(db, {"sync": sync}, 1, {"poll_interval_s": 0.05})
    try:
        async with opened(queue):
            for order_id, n in (("o1", 0), ("o1", 1), ("o2", 0)):
                await pg.enqueue(
                    queue, kind="sync", lock=f"acme:{order_id}", payload={"order": order_id, "n": n}
                )
            started = time.monotonic()
            async with running(queue):
                await eventually(lambda: len(done) == 3, timeout_s=RETRY_AFTER_S + 6)
    finally:
        await client.aclose()
        await asyncio.to_thread(db.engine.dispose)

    assert [(order_id, n) for order_id, n, _ in done] == [("o2", 0), ("o1", 0), ("o1", 1)]
    # o2 ran on the only worker while o1 waited out VTEX's Retry-After, not after it.
    assert done[0][2] - started < RETRY_AFTER_S / 2
    assert done[1][2] - started >= RETRY_AFTER_S * 0.9
