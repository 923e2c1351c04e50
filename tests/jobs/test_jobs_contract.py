"""The `JobQueue` port's promises, held by every adapter: the embedded queue (SQLite), procrastinate on
PostgreSQL, and procrastinate's in-memory connector (not for transactional enqueue: it has no
transactions)."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from jobs.queue_harness import (
    Harness,
    MemoryHarness,
    PostgresHarness,
    QueueUnderTest,
    embedded_harness,
    eventually,
    running,
)
from orderbridge.jobs.errors import Park, RetryLater
from orderbridge.jobs.port import Job, NewJob

ALL = ["embedded", "procrastinate-memory", pytest.param("procrastinate-postgres", marks=pytest.mark.postgres)]
TRANSACTIONAL = ["embedded", pytest.param("procrastinate-postgres", marks=pytest.mark.postgres)]


def _adapter_setup(request: pytest.FixtureRequest) -> tuple[str, str | None]:
    """The adapter's name, and the database URL for procrastinate on PostgreSQL (made here: the async
    fixtures below run in an event loop, where the sync database fixture cannot start)."""
    name = request.param
    return name, request.getfixturevalue("procrastinate_url") if name == "procrastinate-postgres" else None


@pytest.fixture(params=ALL)
def any_adapter(request: pytest.FixtureRequest) -> tuple[str, str | None]:
    return _adapter_setup(request)


@pytest.fixture(params=TRANSACTIONAL)
def transactional_adapter(request: pytest.FixtureRequest) -> tuple[str, str | None]:
    return _adapter_setup(request)


async def _harness(setup: tuple[str, str | None], tmp_path: Path) -> AsyncIterator[Harness]:
    name, url = setup
    if name == "embedded":
        async with embedded_harness(tmp_path) as embedded:
            yield embedded
        return
    harness: PostgresHarness | MemoryHarness
    if url is not None:
        harness = PostgresHarness(url)
        harness.empty()
    else:
        harness = MemoryHarness()
    try:
        yield harness
    finally:
        await harness.close()


@pytest.fixture
async def adapter(any_adapter: tuple[str, str | None], tmp_path: Path) -> AsyncIterator[Harness]:
    async for harness in _harness(any_adapter, tmp_path):
        yield harness


@pytest.fixture
async def transactional(
    transactional_adapter: tuple[str, str | None], tmp_path: Path
) -> AsyncIterator[Harness]:
    async for harness in _harness(transactional_adapter, tmp_path):
        yield harness


async def test_a_locks_jobs_run_one_at_a_time_in_order_while_locks_run_in_parallel(adapter: Harness) -> None:
    seen: dict[str, list[int]] = defaultdict(list)
    busy: set[str] = set()
    overlaps: list[str] = []
    running_now = peak = 0

    async def step(job: Job) -> None:
        nonlocal running_now, peak
        if job.lock in busy:
            overlaps.append(job.lock)
        busy.add(job.lock)
        running_now += 1
        peak = max(peak, running_now)
        await asyncio.sleep(random.uniform(0.005, 0.02))
        seen[job.lock].append(job.payload["n"])
        running_now -= 1
        busy.discard(job.lock)

    queue = await adapter.build({"step": step}, concurrency=8)
    await adapter.enqueue_many(
        queue, [NewJob("step", f"acme:o{lock}", {"n": n}) for n in range(4) for lock in range(6)]
    )
    async with running(queue):
        await eventually(lambda: sum(map(len, seen.values())) == 24)
    assert overlaps == []
    assert seen == {f"acme:o{lock}": [0, 1, 2, 3] for lock in range(6)}
    assert peak > 1


async def test_a_queueing_lock_coalesces_only_with_a_job_not_yet_claimed(adapter: Harness) -> None:
    started, release = asyncio.Event(), asyncio.Event()
    runs: list[int] = []

    async def sync(job: Job) -> None:
        runs.append(job.payload["n"])
        if job.payload["n"] == 1:
            started.set()
            await release.wait()

    queue = await adapter.build({"sync": sync})
    job = {"kind": "sync", "lock": "acme:o1", "queueing_lock": "sync:acme:o1"}
    first = await adapter.enqueue(queue, **job, payload={"n": 1})
    assert first is not None
    assert await adapter.enqueue(queue, **job, payload={"n": 2}) is None  # the first one will do it
    async with running(queue):
        await asyncio.wait_for(started.wait(), 5)
        # The first one runs now and may have read the order already: a new event needs a new job.
        assert await adapter.enqueue(queue, **job, payload={"n": 3}) is not None
        release.set()
        await eventually(lambda: runs == [1, 3])


async def test_a_coalesced_enqueue_leaves_the_callers_transaction_usable(adapter: Harness) -> None:
    """On PostgreSQL a unique violation aborts the whole transaction: the order-state change with it."""
    runs: list[str] = []

    async def step(job: Job) -> None:
        runs.append(job.payload["name"])

    queue = await adapter.build({"step": step})
    await adapter.enqueue(queue, kind="step", lock="acme:o1", payload={"name": "a"}, queueing_lock="q1")
    ids = await adapter.enqueue_each(
        queue,
        [
            {"kind": "step", "lock": "acme:o2", "payload": {"name": "b"}},
            {"kind": "step", "lock": "acme:o1", "payload": {"name": "c"}, "queueing_lock": "q1"},
            {"kind": "step", "lock": "acme:o3", "payload": {"name": "d"}},
        ],
    )
    assert ids[0] is not None and ids[1] is None and ids[2] is not None
    async with running(queue):
        await eventually(lambda: sorted(runs) == ["a", "b", "d"])


async def test_enqueue_many_skips_the_coalesced_jobs_and_keeps_the_others_in_order(adapter: Harness) -> None:
    runs: list[str] = []

    async def step(job: Job) -> None:
        runs.append(job.payload["name"])

    queue = await adapter.build({"step": step})
    await adapter.enqueue(queue, kind="step", lock="acme:o1", payload={"name": "a"}, queueing_lock="q1")
    await adapter.enqueue_many(
        queue,
        [
            NewJob("step", "acme:o1", {"name": "b"}, queueing_lock="q1"),  # coalesced with "a"
            NewJob("step", "acme:o1", {"name": "c"}),
            NewJob("step", "acme:o1", {"name": "d"}, queueing_lock="q2"),
            NewJob("step", "acme:o1", {"name": "e"}, queueing_lock="q2"),  # coalesced with "d"
            NewJob("step", "acme:o1", {"name": "f"}),
        ],
    )
    async with running(queue):
        await eventually(lambda: len(runs) == 4)
        await asyncio.sleep(0.1)
    assert runs == ["a", "c", "d", "f"]


async def test_a_wait_that_does_not_count_holds_no_worker_and_spends_no_attempt(adapter: Harness) -> None:
    runs: list[tuple[str, int, float]] = []

    async def rate_limited(job: Job) -> None:
        runs.append(("limited", job.attempt, time.monotonic()))
        if len([r for r in runs if r[0] == "limited"]) <= 3:
            raise RetryLater(0.2, "429: Retry-After 0.2 s", count_attempt=False)

    async def other(job: Job) -> None:
        runs.append(("other", job.attempt, time.monotonic()))

    # One worker slot and two attempts: the waits neither occupy the slot nor exhaust the attempts.
    queue = await adapter.build({"limited": rate_limited, "other": other}, concurrency=1, max_attempts=2)
    await adapter.enqueue(queue, kind="limited", lock="acme:o1", payload={})
    async with running(queue):
        await eventually(lambda: len(runs) == 1)
        await adapter.enqueue(queue, kind="other", lock="acme:o2", payload={})
        await eventually(lambda: len(runs) == 5)
    limited = [(attempt, at) for kind, attempt, at in runs if kind == "limited"]
    assert [attempt for attempt, _ in limited] == [1, 1, 1, 1]
    assert all(later - earlier >= 0.19 for (_, earlier), (_, later) in itertools.pairwise(limited))
    other_at = next(at for kind, _, at in runs if kind == "other")
    assert other_at < limited[1][1]  # ran while the first wait was on
    assert await queue.list_parked() == []


async def test_a_counted_retry_spends_attempts_and_parks_the_job_once_they_are_spent(
    adapter: Harness,
) -> None:
    attempts: list[int] = []

    async def flaky(job: Job) -> None:
        attempts.append(job.attempt)
        raise RetryLater(0.01, "the step failed again")

    queue = await adapter.build({"flaky": flaky}, max_attempts=3)
    job_id = await adapter.enqueue(queue, kind="flaky", lock="acme:o1", payload={"k": 1})
    async with running(queue):
        await eventually(lambda: len(attempts) == 3)
        await eventually_parked(queue, 1)
    [parked] = await queue.list_parked()
    assert attempts == [1, 2, 3]
    assert (parked.id, parked.kind, parked.lock, parked.payload, parked.attempt) == (
        job_id,
        "flaky",
        "acme:o1",
        {"k": 1},
        3,
    )
    assert parked.reason == "gave up after 3 attempts: the step failed again"


async def test_a_failing_handler_is_retried_with_backoff_then_parked_with_its_error(adapter: Harness) -> None:
    attempts: list[tuple[int, float]] = []

    async def broken(job: Job) -> None:
        attempts.append((job.attempt, time.monotonic()))
        raise ValueError("ERP said nonsense")

    queue = await adapter.build({"broken": broken}, max_attempts=3)
    await adapter.enqueue(queue, kind="broken", lock="acme:o1", payload={})
    async with running(queue):
        await eventually_parked(queue, 1)
    assert [attempt for attempt, _ in attempts] == [1, 2, 3]
    # Backoff with jitter: attempt n waits at least half of 10 ms · 2^(n-1).
    assert attempts[2][1] - attempts[1][1] >= 0.01
    [parked] = await queue.list_parked(lock="acme:*")
    assert parked.reason == "gave up after 3 attempts: ValueError: ERP said nonsense"


async def test_park_lists_the_job_with_its_reason_at_once_and_requeue_runs_it_again(adapter: Harness) -> None:
    runs: list[tuple[int, int]] = []

    async def handover(job: Job) -> None:
        runs.append((job.id, job.attempt))
        if len(runs) == 1:
            raise Park("ERP refused the credentials")

    queue = await adapter.build({"handover": handover, "other": handover}, max_attempts=5)
    job_id = await adapter.enqueue(queue, kind="handover", lock="acme:o1", payload={"order": "o1"})
    assert job_id is not None
    async with running(queue):
        await eventually_parked(queue, 1)
        [parked] = await queue.list_parked(lock="acme:o1")
        assert (parked.id, parked.attempt, parked.reason) == (job_id, 1, "ERP refused the credentials")
        assert parked.parked_at is not None and parked.parked_at >= parked.enqueued_at
        assert await queue.list_parked(lock="acme:o2") == [] and await queue.list_parked(lock="beta:*") == []

        again = await queue.requeue(job_id)
        assert again is not None
        await eventually(lambda: len(runs) == 2)
        assert runs[1] == (again, 1)  # a fresh start: the parked run does not count
        assert await queue.list_parked() == []
        assert await queue.requeue(job_id) is None  # not parked (any more)
        assert await queue.requeue(10**9) is None


async def test_a_run_lost_to_a_dead_worker_spends_no_attempt_so_eight_deaths_do_not_park_the_job(
    adapter: Harness,
) -> None:
    """Found by the 3,000-order chaos run on PostgreSQL (a SIGKILL every ~5 s): Change v2 relays, whose
    VTEX answer takes 3 s, were killed mid-call again and again and parked after 8 deaths, as if they had
    failed 8 times (`max_attempts`): 6 orders stranded. Attempts are for the job's own failures."""
    attempts: list[int] = []

    async def relay(job: Job) -> None:
        attempts.append(job.attempt)

    queue = await adapter.build({"relay": relay}, max_attempts=8)
    await adapter.enqueue(queue, kind="relay", lock="acme:o1", payload={})
    for _ in range(8):
        await adapter.lose_a_run(queue)
    assert await queue.list_parked() == []
    async with running(queue):
        await eventually(lambda: attempts == [1])
    assert await queue.list_parked() == []


async def test_a_job_whose_worker_dies_max_deaths_times_is_parked_saying_so_and_requeue_gives_a_fresh_budget(
    adapter: Harness,
) -> None:
    """A job that kills its process every time (a poison pill) must end parked, not loop for ever."""
    attempts: list[int] = []

    async def poison(job: Job) -> None:
        attempts.append(job.attempt)

    queue = await adapter.build({"poison": poison}, max_attempts=8, max_deaths=3)
    job_id = await adapter.enqueue(queue, kind="poison", lock="acme:o1", payload={"k": 1})
    for _ in range(3):
        await adapter.lose_a_run(queue)
    [parked] = await queue.list_parked()
    assert (parked.id, parked.payload, parked.attempt) == (job_id, {"k": 1}, 0)  # no failure of its own
    assert parked.reason == "gave up: its worker died 3 times while running it"

    again = await queue.requeue(parked.id)
    assert again is not None
    for _ in range(2):  # deaths of the parked runs do not count any more
        await adapter.lose_a_run(queue)
    assert await queue.list_parked() == []
    async with running(queue):
        await eventually(lambda: attempts == [1])


async def test_a_job_that_lost_runs_to_dead_workers_still_gets_all_its_attempts_for_its_own_failures(
    adapter: Harness,
) -> None:
    attempts: list[int] = []

    async def broken(job: Job) -> None:
        attempts.append(job.attempt)
        raise ValueError("ERP said nonsense")

    queue = await adapter.build({"broken": broken}, max_attempts=2, max_deaths=3)
    await adapter.enqueue(queue, kind="broken", lock="acme:o1", payload={})
    for _ in range(2):
        await adapter.lose_a_run(queue)
    async with running(queue):
        await eventually_parked(queue, 1)
    assert attempts == [1, 2]
    [parked] = await queue.list_parked()
    assert (parked.attempt, parked.reason) == (2, "gave up after 2 attempts: ValueError: ERP said nonsense")


async def test_a_job_enqueued_in_a_rolled_back_transaction_never_exists(transactional: Harness) -> None:
    runs: list[int] = []

    async def step(job: Job) -> None:
        runs.append(job.id)

    queue = await transactional.build({"step": step})
    assert await transactional.enqueue_rolled_back(queue, kind="step", lock="acme:o1") is not None
    committed = await transactional.enqueue(queue, kind="step", lock="acme:o2", payload={})
    async with running(queue):
        await eventually(lambda: runs == [committed])
        await asyncio.sleep(0.2)
    assert runs == [committed]


async def eventually_parked(queue: QueueUnderTest, count: int, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while len(await queue.list_parked()) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{count} parked jobs not reached within {timeout_s} s")
        await asyncio.sleep(0.02)
