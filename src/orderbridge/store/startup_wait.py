"""A process that starts while PostgreSQL is away (restarting, failing over, its host booting) waits for it.

Without this, a worker restarted by systemd or an orchestrator in the second PostgreSQL needs to
restart exited at once with "connection refused" (the cluster chaos test met it: a SIGKILLed worker
restarted during the database's restart). libpq reports every failure to connect the same way (no
SQLSTATE), so a wrong host or password also waits, `wait_s` at most, each try logged with its reason.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import psycopg
import structlog
from sqlalchemy import exc as sa

log = structlog.get_logger(__name__)

#: How long a starting process waits for PostgreSQL before it gives up (and exits with the error).
START_WAIT_S = 60.0
_FIRST_DELAY_S = 0.5
_MAX_DELAY_S = 5.0


async def when_database_answers(
    step: Callable[[], Awaitable[None]], *, what: str, wait_s: float = START_WAIT_S
) -> None:
    """Run `step`; while it cannot connect to the database, run it again (0.5 s, 1 s … 5 s apart) for up
    to `wait_s`. Any other error, and the last failure to connect, are raised."""
    deadline = time.monotonic() + wait_s
    delay = _FIRST_DELAY_S
    while True:
        try:
            await step()
            return
        except (sa.OperationalError, psycopg.OperationalError) as error:
            if time.monotonic() + delay > deadline:
                raise
            reason = str(getattr(error, "orig", None) or error).splitlines()[0]
            log.warning("database_unavailable_at_start", during=what, reason=reason, retry_in_s=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_DELAY_S)
