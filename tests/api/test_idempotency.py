"""The Idempotency-Key cache: first answer replayed, key reuse refused, racing retry refused, 5xx not kept."""

from __future__ import annotations

import asyncio

import pytest

from orderbridge.api.idempotency import IdempotencyCache, StoredAnswer
from orderbridge.api.problems import ProblemError

OK = StoredAnswer(202, b'{"commandId": "c-1"}', "application/json")


async def test_a_retry_gets_the_first_answer_without_running_again() -> None:
    cache, runs = IdempotencyCache(), []

    async def produce() -> StoredAnswer:
        runs.append(1)
        return OK

    fingerprint = IdempotencyCache.fingerprint("POST", "/x", b"{}")
    assert await cache.run("client", "k", fingerprint, produce) == (OK, False)
    assert await cache.run("client", "k", fingerprint, produce) == (OK, True)
    assert await cache.run("other-client", "k", fingerprint, produce) == (OK, False)  # keys are per caller
    assert len(runs) == 2


async def test_a_key_reused_for_another_request_is_refused() -> None:
    cache = IdempotencyCache()

    async def produce() -> StoredAnswer:
        return OK

    await cache.run("c", "k", IdempotencyCache.fingerprint("POST", "/x", b"{}"), produce)
    with pytest.raises(ProblemError) as refused:
        await cache.run("c", "k", IdempotencyCache.fingerprint("POST", "/x", b'{"a": 1}'), produce)
    assert refused.value.status == 422


async def test_a_retry_racing_the_first_request_is_told_to_wait() -> None:
    cache, release = IdempotencyCache(), asyncio.Event()

    async def slow() -> StoredAnswer:
        await release.wait()
        return OK

    fingerprint = IdempotencyCache.fingerprint("POST", "/x", b"{}")
    first = asyncio.create_task(cache.run("c", "k", fingerprint, slow))
    await asyncio.sleep(0)
    with pytest.raises(ProblemError) as racing:
        await cache.run("c", "k", fingerprint, slow)
    assert racing.value.status == 409
    release.set()
    assert await first == (OK, False)


async def test_server_errors_and_exceptions_are_not_remembered() -> None:
    cache = IdempotencyCache()
    fingerprint = IdempotencyCache.fingerprint("POST", "/x", b"{}")

    async def broken() -> StoredAnswer:
        raise RuntimeError("database down")

    async def unavailable() -> StoredAnswer:
        return StoredAnswer(503, b"{}", "application/problem+json")

    async def fine() -> StoredAnswer:
        return OK

    with pytest.raises(RuntimeError):
        await cache.run("c", "k", fingerprint, broken)
    assert (await cache.run("c", "k", fingerprint, unavailable))[0].status == 503
    assert await cache.run("c", "k", fingerprint, fine) == (OK, False)


async def test_the_cache_is_bounded() -> None:
    cache = IdempotencyCache(capacity=2)

    async def produce() -> StoredAnswer:
        return OK

    for key in ("a", "b", "c"):
        await cache.run("c", key, "f", produce)
    assert await cache.run("c", "a", "f", produce) == (OK, False)  # the oldest was forgotten


async def test_a_request_still_running_keeps_its_key_when_the_cache_is_full() -> None:
    cache, release = IdempotencyCache(capacity=1), asyncio.Event()

    async def slow() -> StoredAnswer:
        await release.wait()
        raise RuntimeError("database down")

    async def produce() -> StoredAnswer:
        return OK

    first = asyncio.create_task(cache.run("c", "slow", "f", slow))
    await asyncio.sleep(0)
    for key in ("a", "b"):  # fill the cache past its capacity while "slow" runs
        await cache.run("c", key, "f", produce)
    with pytest.raises(ProblemError) as racing:
        await cache.run("c", "slow", "f", produce)
    assert racing.value.status == 409  # not run a second time
    release.set()
    with pytest.raises(RuntimeError):  # the first request's own failure, not a KeyError of the cache
        await first
