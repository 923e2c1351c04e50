"""Group commit: many jobs' small write units share one transaction.

Every step of every order is recorded as it completes (a crash resumes at the right step), which on the
hot path means a few tiny transactions per order. Run one at a time, their BEGIN/COMMIT and the wait for
SQLite's single writer cost more than their statements; with dozens of jobs in flight, the units that
queue up while one transaction commits go together in the next. A caller's `await` still returns only
after ITS unit committed, so "recorded" keeps meaning durable.

`gather_s` makes the batches bigger on purpose: the first unit of a batch waits that long for others
to join it. A write transaction costs ~200 µs of CPU in SQLAlchemy however little it writes, so at a
hundred orders a second, a few milliseconds' wait (next to VTEX's tens of milliseconds per call) turns
several transactions per order into a fraction of one. The job queue's own bookkeeping (claims,
outcomes) joins the same batches (`EmbeddedQueue(writes=…)`).

If a shared transaction fails, no unit's effect survived the rollback: each unit of that batch is then
run again in a transaction of its own, so one bad unit cannot fail its neighbours.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from orderbridge.store.db import Database

T = TypeVar("T")
Unit = Callable[[AsyncSession], Awaitable[Any]]


class GroupCommit:
    def __init__(self, db: Database, max_batch: int = 256, gather_s: float = 0.0) -> None:
        self.db = db
        self.max_batch = max_batch
        self.gather_s = gather_s
        self._pending: list[tuple[Unit, asyncio.Future[Any]]] = []
        self._drainer: asyncio.Task[None] | None = None
        self.transactions = 0
        self.units = 0

    async def run(self, unit: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run `unit(session)` in a (possibly shared) write transaction; its result once committed."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((unit, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain(), name="group-commit")
        return await future

    async def _drain(self) -> None:
        while self._pending:
            if self.gather_s > 0 and len(self._pending) < self.max_batch:
                # Before every batch, not just the first: units keep arriving while one commits, and
                # committing those at once would make nearly every batch a batch of one again.
                await asyncio.sleep(self.gather_s)
            batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
            batch = [(unit, future) for unit, future in batch if not future.cancelled()]
            if batch:
                await self._commit(batch)

    async def _commit(self, batch: list[tuple[Unit, asyncio.Future[Any]]]) -> None:
        try:
            async with self.db.transaction() as session:
                results = [await unit(session) for unit, _ in batch]
        except Exception:
            if len(batch) == 1:
                await self._alone(*batch[0])
                return
            for unit, future in batch:
                await self._alone(unit, future)
            return
        self.transactions += 1
        self.units += len(batch)
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)

    async def _alone(self, unit: Unit, future: asyncio.Future[Any]) -> None:
        try:
            async with self.db.transaction() as session:
                result = await unit(session)
        except Exception as error:
            if not future.done():
                future.set_exception(error)
            return
        self.transactions += 1
        self.units += 1
        if not future.done():
            future.set_result(result)
