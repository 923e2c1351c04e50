"""Whether each account's VTEX answers, as its feed pollers see it — for `orderbridge status` and the
dashboard, which read the database, not this process.

A failed feed read (connection refused, timeout, 5xx … after the client's own retries) counts; after
`DEGRADED_AFTER` in a row the account is degraded, with ONE error line (`vtex_unreachable`) for the
whole outage and one info line (`vtex_recovered`) at the first read that works again. Each transition
is written as a row of the channel-health table (`erp_channels`, name `vtex:<account>`: the same
facts as an ERP channel's — healthy, failures in a row, last error, since when), so no schema change
is needed; `operators.status` reads those rows back as each account's `vtex`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import structlog

from orderbridge.store import repo
from orderbridge.store.db import Database

log = structlog.get_logger("orderbridge.pipeline.vtex")

VTEX_CHANNEL_PREFIX = "vtex:"
DEGRADED_AFTER = 3


def channel_name(account: str) -> str:
    return VTEX_CHANNEL_PREFIX + account


@dataclass
class _Seen:
    healthy: bool | None = None  # None: nothing written by this process yet
    failures: int = 0


class VtexHealth:
    """One per pipeline; the pollers of every account report each feed read's outcome."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._seen: dict[str, _Seen] = {}

    async def read_worked(self, account: str, now: datetime) -> None:
        seen = self._seen.setdefault(account, _Seen())
        seen.failures = 0
        if seen.healthy is True:
            return
        if seen.healthy is False:
            log.info("vtex_recovered", account=account)
        seen.healthy = True
        await self._write(account, True, 0, None, now)

    async def read_failed(self, account: str, error: str, now: datetime) -> None:
        seen = self._seen.setdefault(account, _Seen())
        seen.failures += 1
        if seen.failures < DEGRADED_AFTER or seen.healthy is False:
            return
        seen.healthy = False
        log.error("vtex_unreachable", account=account, failures=seen.failures, error=error)
        await self._write(account, False, seen.failures, error, now)

    async def _write(
        self, account: str, healthy: bool, failures: int, error: str | None, now: datetime
    ) -> None:
        await self.db.write(
            lambda conn: repo.set_erp_channel(
                conn,
                channel_name(account),
                healthy=healthy,
                consecutive_failures=failures,
                last_error=error,
                changed_at=now,
            )
        )
