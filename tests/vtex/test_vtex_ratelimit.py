"""The per-account token bucket: burst at once, then the configured rate, shared by every call."""

from __future__ import annotations

import asyncio

from vtex_stub import ClientFactory, Reply, StubVtex

from orderbridge.vtex import TokenBucket


class FakeTime:
    """A clock that only moves when the limiter sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_a_burst_passes_at_once_and_the_rest_follow_at_the_rate() -> None:
    time = FakeTime()
    bucket = TokenBucket(requests_per_second=4, burst=2, clock=time.clock, sleep=time.sleep)

    waits = [await bucket.acquire() for _ in range(5)]

    assert waits == [0.0, 0.0, 0.25, 0.25, 0.25]
    assert time.now == 0.75


async def test_idle_time_refills_the_bucket_up_to_the_burst() -> None:
    time = FakeTime()
    bucket = TokenBucket(requests_per_second=1, burst=3, clock=time.clock, sleep=time.sleep)
    for _ in range(3):
        await bucket.acquire()

    time.now += 100.0
    waits = [await bucket.acquire() for _ in range(4)]

    assert waits == [0.0, 0.0, 0.0, 1.0]


async def test_concurrent_callers_are_released_one_by_one() -> None:
    time = FakeTime()
    bucket = TokenBucket(requests_per_second=10, burst=1, clock=time.clock, sleep=time.sleep)

    waits = await asyncio.gather(*(bucket.acquire() for _ in range(4)))

    assert sorted(waits) == [0.0, 0.1, 0.1, 0.1]
    assert round(time.now, 6) == 0.3


async def test_every_attempt_of_a_client_goes_through_its_limiter(
    make_client: ClientFactory, stub: StubVtex
) -> None:
    time = FakeTime()
    bucket = TokenBucket(requests_per_second=2, burst=1, clock=time.clock, sleep=time.sleep)
    client = make_client(limiter=bucket)
    stub.reply("GET", "/api/oms/pvt/orders/1-01", Reply(500), Reply(json={"orderId": "1-01"}))

    await client.get_order("1-01")
    await client.read_feed()

    assert len(stub.seen) == 3
    assert time.slept == [0.5, 0.5], "three requests through a 2/s bucket of burst 1"


async def test_requests_per_second_builds_a_token_bucket(make_client: ClientFactory) -> None:
    client = make_client(requests_per_second=50.0, burst=5)
    limiter = client.limiter
    assert isinstance(limiter, TokenBucket)
    assert (limiter.rate, limiter.burst) == (50.0, 5)
