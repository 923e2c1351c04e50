"""Every VTEX call about an order, kept for the order's timeline: one row per HTTP attempt.

The VTEX client tells its observers of each attempt (`VtexCall`); those about an order (an `{order_id}`
in the path: Get order, start-handling, invoices…; not feed reads) are buffered here and written in
batches that ride the database's group commit (`store.group_commit`): one more unit in a transaction
that other jobs' writes open anyway when the pipeline is busy, its rows sent as one `executemany` at
COMMIT (`store.group_commit.defer`).
No VTEX call waits for its row, and while the pipeline is busy no call costs a transaction of its own.

The rows are the timeline's evidence, not the pipeline's state (that is `attempts`, written with each
step): a batch the database refuses is dropped with a warning, and if writes fall behind, the oldest
buffered calls go first. Retention: calls older than `keep` are deleted in the same transactions, at
most every `purge_every_s`, a bounded batch at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.engine import Connection

from orderbridge.store import repo
from orderbridge.store.db import Database
from orderbridge.store.types import utcnow
from orderbridge.vtex import VtexCall

log = structlog.get_logger("orderbridge.pipeline.call_log")

DEFAULT_KEEP = timedelta(days=7)
MAX_BUFFERED = 50_000
ERROR_CHARS = 64  # `vtex_calls.error`


class CallLog:
    def __init__(
        self,
        db: Database,
        *,
        keep: timedelta = DEFAULT_KEEP,
        purge_every_s: float = 600.0,
        max_buffered: int = MAX_BUFFERED,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.keep = keep
        self.purge_every_s = purge_every_s
        self._clock = clock
        self._buffer: deque[repo.VtexCallRow] = deque(maxlen=max_buffered)
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._next_purge: datetime | None = None

    def observe(self, call: VtexCall) -> None:
        """The VTEX client's observer (`VtexClient.add_observer`): buffer the call, schedule a write."""
        if call.order_id is None:
            return
        self._buffer.append(
            repo.VtexCallRow(
                account=call.account,
                order_id=call.order_id,
                method=call.method,
                path=call.path,
                status=call.status,
                error=call.error[:ERROR_CHARS] if call.error else None,
                latency_ms=round(call.seconds * 1000, 1),
                attempt=call.attempt,
                at=call.started_at,
            )
        )
        if not self._scheduled:
            self._scheduled = True
            task = asyncio.get_running_loop().create_task(self._write(), name="vtex-call-log")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait until every call observed so far is written (or dropped): at shutdown, and in tests."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks))

    async def _write(self) -> None:
        batch = _Batch(self)
        try:
            await self.db.write(batch)
        except Exception as error:  # the timeline's evidence, not the pipeline's state: never fatal
            log.warning("vtex_calls_not_stored", calls=len(batch.rows or ()), error=repr(error)[:300])
        finally:
            if batch.rows is None:  # it never ran: the buffer is still waiting for a writer
                self._scheduled = False

    def _take(self) -> list[repo.VtexCallRow]:
        """Everything buffered, for one write; calls observed from now on schedule the next one.

        On the writer thread, while the loop may append: the flag goes down first, then the buffer is
        emptied one atomic `popleft` at a time, so a call appended meanwhile is either taken here or
        schedules a write of its own — never stranded."""
        self._scheduled = False
        rows = []
        with contextlib.suppress(IndexError):
            while True:
                rows.append(self._buffer.popleft())
        return rows

    def _purge_if_due(self, conn: Connection) -> None:
        now = self._clock()
        if self._next_purge is not None and now < self._next_purge:
            return
        # Set first: a batch run again alone (its shared transaction failed) does not purge twice.
        self._next_purge = now + timedelta(seconds=self.purge_every_s)
        forgotten = repo.purge_vtex_calls(conn, now - self.keep)
        if forgotten:
            log.info("vtex_calls_purged", calls=forgotten, older_than=str(self.keep))


class _Batch:
    """One group-commit unit. It takes the buffer the first time it runs and keeps what it took, so
    running it again (alone, after its shared transaction failed) writes the same rows."""

    def __init__(self, log_: CallLog) -> None:
        self.log = log_
        self.rows: list[repo.VtexCallRow] | None = None

    def __call__(self, conn: Connection) -> Any:
        if self.rows is None:
            self.rows = self.log._take()
        repo.add_vtex_calls_at_commit(conn, self.rows)
        self.log._purge_if_due(conn)
