"""How a job meets VTEX's error taxonomy (invariant 6).

429 → the job is rescheduled after `Retry-After` without spending one of its attempts; 401/403 → the
account is paused and the job waits for it; anything else propagates to the job's own retry/park rules.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from orderbridge.jobs.errors import RetryLater
from orderbridge.vtex.errors import AuthError, RateLimited

from . import accounts
from .deps import PipelineDeps

T = TypeVar("T")


async def guard_account(deps: PipelineDeps, account: str) -> None:
    """A paused account's jobs wait without calling VTEX (nor spending attempts)."""
    if await accounts.is_paused(deps, account):
        raise RetryLater(deps.timing.paused_probe_s, f"account {account} is paused", count_attempt=False)


async def vtex_call(deps: PipelineDeps, account: str, order_id: str, action: str, call: Awaitable[T]) -> T:
    try:
        return await call
    except RateLimited as error:
        raise RetryLater(error.retry_after, f"{action}: rate limited", count_attempt=False) from error
    except AuthError as error:
        await accounts.pause(deps, account, str(error))
        raise RetryLater(deps.timing.paused_probe_s, f"{action}: {error}", count_attempt=False) from error
