"""A rate limit shared by every process of a cluster: GCRA in one PostgreSQL row.

VTEX's quotas are per account (6,000 Get order calls a minute), not per process: N workers each pacing
themselves at the quota would together send N times it. So each account and endpoint class has one row
holding GCRA's theoretical arrival time (`tat`, seconds on PostgreSQL's clock). A call reserves the next
slot in one statement — `tat = max(tat, now) + interval` — and then sleeps locally until its slot: one
round trip per call, no lock held while waiting, and the database's clock, so the hosts' clocks never
have to agree. Slots are handed out in the order the row lock is granted; a caller cancelled while it
sleeps leaves its slot unused (a gap of one interval, never a burst).

`burst` calls may go at once (GCRA's tolerance of `burst - 1` intervals), as with the in-process bucket
(`vtex.ratelimit.TokenBucket`), whose `acquire()` this mirrors.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from psycopg_pool import AsyncConnectionPool
from sqlalchemy.engine import make_url

from orderbridge.vtex.ratelimit import check_bucket

# INSERT for the first call of a key, UPDATE afterwards; the row's lock serializes reservations.
_RESERVE = """
INSERT INTO rate_limits AS r (key, tat)
VALUES (%(key)s, extract(epoch FROM clock_timestamp()) + %(interval)s)
ON CONFLICT (key) DO UPDATE
SET tat = GREATEST(r.tat, extract(epoch FROM clock_timestamp())) + %(interval)s
RETURNING r.tat, extract(epoch FROM clock_timestamp())
"""


class SharedTokenBucket:
    """`requests_per_second` sustained and `burst` at once, for all processes using `key` together."""

    def __init__(
        self,
        pool: AsyncConnectionPool,
        key: str,
        requests_per_second: float,
        burst: int = 1,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        check_bucket(requests_per_second, burst)
        self.pool = pool
        self.key = key
        self.rate = requests_per_second
        self.burst = burst
        self._interval = 1.0 / requests_per_second
        self._tolerance = (burst - 1) * self._interval
        self._sleep = sleep

    async def acquire(self) -> float:
        """Reserve the next slot of the shared schedule and wait for it; the seconds waited."""
        async with self.pool.connection() as conn:
            cursor = await conn.execute(_RESERVE, {"key": self.key, "interval": self._interval})
            row = await cursor.fetchone()
        assert row is not None  # INSERT … ON CONFLICT DO UPDATE always returns the row
        tat, now = float(row[0]), float(row[1])
        wait = tat - self._interval - self._tolerance - now
        if wait <= 0:
            return 0.0
        await self._sleep(wait)
        return wait


def rate_limit_pool(database_url: str, *, max_size: int = 4) -> AsyncConnectionPool:
    """A small autocommit pool for the reservations (each is one short statement); open it with
    `await pool.open()` and close it with `await pool.close()`."""
    url = make_url(database_url).set(drivername="postgresql")
    return AsyncConnectionPool(
        url.render_as_string(hide_password=False),
        min_size=1,
        max_size=max_size,
        kwargs={"autocommit": True},
        open=False,
        name="rate-limits",
    )


class SharedRateLimits:
    """The buckets of one process, all over one small pool of the cluster's database."""

    def __init__(self, database_url: str) -> None:
        self.pool = rate_limit_pool(database_url)

    def bucket(self, key: str, requests_per_second: float, burst: int) -> SharedTokenBucket:
        return SharedTokenBucket(self.pool, key, requests_per_second, burst)

    async def open(self) -> None:
        await self.pool.open(wait=True)

    async def close(self) -> None:
        await self.pool.close()
