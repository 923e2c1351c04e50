"""A per-account token bucket: ``requests_per_second`` sustained, ``burst`` at once.

One bucket is shared by every call of a client (and may be shared by several clients of the same
account). Waiters queue in arrival order behind a lock, so a burst of coroutines is released at
the configured rate instead of all waking up together.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Protocol


class RateLimiter(Protocol):
    async def acquire(self) -> float:
        """Wait for permission to send one request; return the seconds waited."""
        ...


class Unlimited:
    """No client-side limit (VTEX's own 429s still apply)."""

    async def acquire(self) -> float:
        return 0.0


def check_bucket(requests_per_second: float, burst: int) -> None:
    """Refuse a bucket that could never let a call through (shared by every bucket kind)."""
    if requests_per_second <= 0:
        raise ValueError("requests_per_second must be positive")
    if burst < 1:
        raise ValueError("burst must be at least 1")


class TokenBucket:
    def __init__(
        self,
        requests_per_second: float,
        burst: int = 1,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        check_bucket(requests_per_second, burst)
        self.rate = requests_per_second
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._updated = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    async def acquire(self) -> float:
        async with self._lock:
            self._refill()
            waited = 0.0
            if self._tokens < 1.0:
                waited = (1.0 - self._tokens) / self.rate
                await self._sleep(waited)
                self._refill()
                # A fake or coarse clock may not have advanced: the sleep itself earned the token.
                self._tokens = max(self._tokens, 1.0)
            self._tokens -= 1.0
            return waited


def make_limiter(requests_per_second: float | None, burst: int) -> RateLimiter:
    return Unlimited() if requests_per_second is None else TokenBucket(requests_per_second, burst)
