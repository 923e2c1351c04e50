"""Pausing an account whose credentials VTEX refuses (invariant 6: auth errors pause and alert).

A paused account's pollers and jobs stop calling VTEX; a probe (a cheap authenticated read) every
`paused_probe_s` resumes it as soon as the key works again. The pause is kept in memory for the hot
path and written to the `accounts` table so operators see it.
"""

from __future__ import annotations

import structlog

from orderbridge.store import repo
from orderbridge.vtex.errors import AuthError, RateLimited, VtexError

from .deps import PipelineDeps

log = structlog.get_logger("orderbridge.pipeline.accounts")


async def is_paused(deps: PipelineDeps, account: str) -> bool:
    return account in deps.paused


async def pause(deps: PipelineDeps, account: str, reason: str) -> None:
    if account in deps.paused:
        return
    deps.paused[account] = reason
    log.error("account_paused", account=account, reason=reason)
    await _write(deps, account, True, reason)


async def resume(deps: PipelineDeps, account: str) -> None:
    if deps.paused.pop(account, None) is None:
        return
    log.info("account_resumed", account=account)
    await _write(deps, account, False, None)


async def key_works(deps: PipelineDeps, account: str) -> bool:
    """One cheap authenticated read: False only when VTEX refuses the key itself. A 429 is no answer:
    `RateLimited` is raised for the caller to wait it out (a job on procrastinate sleeps none)."""
    try:
        await deps.client(account).get_feed_config()
    except AuthError:
        return False
    except RateLimited:
        raise
    except VtexError:
        return True  # not an auth answer: the key was accepted
    return True


async def probe(deps: PipelineDeps, account: str) -> float:
    """Try the key once; resume the account if VTEX accepts it. Returns the wait before the next try."""
    try:
        await deps.client(account).get_feed_config()
    except AuthError:
        return deps.timing.paused_probe_s
    except VtexError:
        return deps.timing.paused_probe_s
    await resume(deps, account)
    return 0.0


async def _write(deps: PipelineDeps, account: str, paused: bool, reason: str | None) -> None:
    await deps.db.write(lambda conn: repo.set_account_paused(conn, account, paused, reason))


async def load_paused(deps: PipelineDeps) -> None:
    """A pause survives a restart: the in-memory view starts from the table."""
    names = list(deps.accounts)
    rows = await deps.db.read(lambda conn: [repo.get_account(conn, name) for name in names])
    for name, row in zip(names, rows, strict=True):
        if row is not None and row.paused:
            deps.paused[name] = row.paused_reason or "paused"
