"""A request that meets the database down (a restart, a fail-over) is answered 503 with `Retry-After`.

The request did not complete, and the sender should send it again; a 503 says so — VTEX sends a hook
again (the feed carries the same event anyway), an ERP retries its command with its idempotency key, a
dashboard reloads — where a 500 and a traceback in the log said "a bug in orderbridge".
"""

from __future__ import annotations

import structlog
from fastapi import Request, Response
from sqlalchemy import exc as sa

from .problems import ProblemError, problem_response

log = structlog.get_logger(__name__)

#: What the database raises while it is away: connections refused or cut, a pool with none to give,
#: a connection still holding the transaction the cut left behind.
DATABASE_OUTAGES: tuple[type[Exception], ...] = (
    sa.OperationalError,
    sa.InterfaceError,
    sa.PendingRollbackError,
    sa.TimeoutError,
)
RETRY_AFTER_S = 5


async def answer_database_unavailable(request: Request, exc: Exception) -> Response:
    """The application's exception handler for `DATABASE_OUTAGES`."""
    # The error's class only: its text may quote the statement's parameters (a payload, an address).
    log.warning("api.database_unavailable", path=request.url.path, error=type(exc).__name__)
    error = ProblemError(
        503,
        "database-unavailable",
        "Database unavailable",
        f"the database did not answer: send the request again in {RETRY_AFTER_S} s",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )
    return problem_response(error, request.url.path)
