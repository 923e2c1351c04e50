"""When and how long to wait before another attempt.

A small explicit policy instead of stamina: the decision depends on the HTTP method's idempotency,
on whether the request left the machine and on ``Retry-After`` — and a long ``Retry-After`` must
become an error for the caller to reschedule, not a sleep. Backoff uses "full jitter" (a uniform
draw between 0 and the exponential cap) so that many workers hit by the same outage spread out.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


@dataclass(frozen=True)
class RetryPolicy:
    """Tunables; the defaults keep a failing call under ~2 s of backoff so tests stay fast."""

    attempts: int = 4
    """Attempts in total for 5xx/timeouts/connection errors on idempotent calls (1 = no retry)."""
    base_delay_s: float = 0.1
    max_delay_s: float = 2.0
    max_short_wait_s: float = 5.0
    """A ``Retry-After`` up to this is slept inside the call; longer raises ``RateLimited`` (none is
    slept inside ``retry_after_rescheduled``)."""
    max_rate_limit_retries: int = 3
    """How many short 429 waits one call may sleep before giving up with ``RateLimited``."""
    default_retry_after_s: float = 60.0
    """Wait suggested to the caller on a 429 without ``Retry-After`` (VTEX's feed guide: 1 minute)."""
    rng: Callable[[float, float], float] = field(default=random.uniform, repr=False, compare=False)

    def backoff_s(self, failed_attempts: int) -> float:
        """Full-jitter delay after ``failed_attempts`` consecutive failures (1 for the first)."""
        cap = min(self.max_delay_s, self.base_delay_s * 2 ** (failed_attempts - 1))
        return self.rng(0.0, cap)


_RESCHEDULED: ContextVar[bool] = ContextVar("vtex_retry_after_rescheduled", default=False)


@contextlib.contextmanager
def retry_after_rescheduled() -> Iterator[None]:
    """Inside: every 429 raises ``RateLimited`` (its ``Retry-After`` for the caller to reschedule), none
    is slept inside the call, whatever the policy's ``max_short_wait_s``. For work whose wait would hold
    something scarce: a job on procrastinate's workers holds one of a process's slots while it runs."""
    token = _RESCHEDULED.set(True)
    try:
        yield
    finally:
        _RESCHEDULED.reset(token)


def sleeps_retry_after(policy: RetryPolicy, retry_after: float) -> bool:
    """Is this ``Retry-After`` slept inside the call (never inside ``retry_after_rescheduled``)?"""
    return not _RESCHEDULED.get() and retry_after <= policy.max_short_wait_s


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date); None if absent/garbled."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        return _seconds_until(text, now)
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        return None
    return max(0.0, seconds)


def _seconds_until(http_date: str, now: datetime | None) -> float | None:
    try:
        when = parsedate_to_datetime(http_date)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
