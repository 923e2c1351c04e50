"""`AdvisoryLocks` in one process, fast: several contenders run a loop once between them, a holder cut
off from PostgreSQL stops its loop at once and it runs again when a session holds the lock, a loop
that fails stops its contender loudly."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator

import psycopg
import pytest

from orderbridge.pipeline.singletons import LOCK_NAMESPACE, AdvisoryLocks, Loop
from orderbridge.store.procrastinate_schema import libpq_conninfo
from orderbridge.store.testing import create_migrated_database, drop_database

pytestmark = pytest.mark.postgres

RETRY_S = 0.1


@pytest.fixture(scope="module")
def url(postgres_server_url: str) -> Iterator[str]:
    created = create_migrated_database(postgres_server_url, jobs_schema=False)
    try:
        yield created
    finally:
        drop_database(created)


class Running:
    """Which contenders run the loop right now."""

    def __init__(self) -> None:
        self.now: set[int] = set()
        self.most_at_once = 0

    def loop(self, who: int) -> Loop:
        async def run(stop: asyncio.Event) -> None:
            self.now.add(who)
            self.most_at_once = max(self.most_at_once, len(self.now))
            try:
                await stop.wait()
            finally:
                self.now.discard(who)

        return run


@contextlib.asynccontextmanager
async def contending(url: str, running: Running, count: int) -> AsyncIterator[list[asyncio.Task[None]]]:
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(AdvisoryLocks(url, retry_s=RETRY_S).run({"feed:shop": running.loop(n)}, stop))
        for n in range(count)
    ]
    try:
        yield tasks
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)


async def eventually(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout_s} s")
        await asyncio.sleep(0.01)


def terminate_holder(url: str) -> None:
    """End the lock-holding session from PostgreSQL's side (as a restart or a partition would)."""
    with psycopg.connect(libpq_conninfo(url), autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND classid = %s AND objsubid = 2",
            (LOCK_NAMESPACE,),
        )


async def test_three_contenders_run_a_loop_once_between_them(url: str) -> None:
    running = Running()
    async with contending(url, running, 3):
        await eventually(lambda: len(running.now) == 1)
        await asyncio.sleep(RETRY_S * 5)  # every contender has tried again several times

        assert running.most_at_once == 1
    assert running.now == set(), "stopping stops the loop"


async def test_a_holder_whose_session_ends_stops_its_loop_and_it_runs_again_once(url: str) -> None:
    running = Running()
    async with contending(url, running, 2):
        await eventually(lambda: len(running.now) == 1)
        (first,) = running.now

        await asyncio.to_thread(terminate_holder, url)
        await eventually(lambda: first not in running.now)  # the holder noticed and stopped
        await eventually(lambda: len(running.now) == 1)

        assert running.most_at_once == 1


async def test_a_loop_that_fails_stops_its_contender_loudly(url: str) -> None:
    async def broken(stop: asyncio.Event) -> None:
        raise RuntimeError("a bug in the loop")

    with pytest.raises(RuntimeError, match="a bug in the loop"):
        await asyncio.wait_for(
            AdvisoryLocks(url, retry_s=RETRY_S).run({"reconcile:shop": broken}, asyncio.Event()), 5
        )
