"""The writer thread: every write transaction of a `Database` runs here, units committed in groups.

A unit is a plain function `fn(connection) -> result` that writes in the transaction it is given. The
event loop hands it over (`submit`) and awaits its result: one hop to this thread and one back per
unit, whatever the unit executes. SQLite has a single writer anyway; one thread that owns it never
waits for a lock held by another of this process's connections, and WAL checkpoints (run by COMMIT)
happen here, not on the loop.

Group commit: when the thread is idle a unit commits at once, alone — no waiting for company. While a
transaction commits, new units queue; the next transaction takes all of them (up to `max_batch`). So
batches grow only under load, as with a database's commit delay, and a lone order never waits for
others. A caller's `await` returns only after ITS unit committed: "recorded" means durable.

If a shared transaction fails, no unit's effect survived the rollback: each unit of that batch is run
again in a transaction of its own, so one bad unit cannot fail its neighbours. Units must therefore be
safe to run twice when the first run was rolled back (a database-only function is; one that takes
from an in-memory buffer must keep what it took — see `pipeline.call_log`).

Blind writes of a few fixed shapes ("record this attempt", "move that order to state X") may be
deferred (`defer`): kept on the connection and sent just before COMMIT, every row of one statement of
the whole batch in a single `executemany` — tens of microseconds a row instead of a full execution
each. They commit or roll back with the transaction; only defer a write nothing later reads back.

A unit may ask for a callback on the event loop once its transaction committed (`after_commit`): the
job queue wakes its workers that way, only for jobs that really exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql import Executable

log = structlog.get_logger("orderbridge.store")

T = TypeVar("T")
_AFTER_COMMIT = "orderbridge.after_commit"
_DEFERRED = "orderbridge.deferred_writes"


@dataclass(slots=True)
class _Unit:
    fn: Callable[[Connection], Any]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    callbacks: list[Callable[[], None]] = field(default_factory=list)


def after_commit(conn: Connection, callback: Callable[[], None]) -> None:
    """Call `callback` on the event loop of the unit running in `conn`'s transaction, once it committed.

    Outside a `Database.write` (a test or a tool writing through the engine directly) nothing is
    called: whoever relied on the callback must not need it (the job queue polls anyway)."""
    callbacks: list[Callable[[], None]] | None = conn.info.get(_AFTER_COMMIT)
    if callbacks is not None:
        callbacks.append(callback)


def defer(conn: Connection, statement: Executable, params: dict[str, Any]) -> None:
    """Run `statement` with `params` just before the transaction commits, batched with its likes.

    `statement` must be built once (a module-level constant): rows are grouped by the statement object.
    Outside a `Database.write` the statement runs at once."""
    pending: dict[Executable, list[dict[str, Any]]] | None = conn.info.get(_DEFERRED)
    if pending is None:
        conn.execute(statement, params)
        return
    pending.setdefault(statement, []).append(params)


class GroupCommit:
    """One thread that runs write units in transactions of `engine` (its connections must begin write
    transactions: on SQLite `BEGIN IMMEDIATE`, see `store.db`)."""

    def __init__(self, engine: Engine, *, max_batch: int = 256, name: str = "orderbridge-writer") -> None:
        self.engine = engine
        self.max_batch = max_batch
        self.transactions = 0
        self.units = 0
        self._queue: queue.SimpleQueue[_Unit | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = False
        self._lock = threading.Lock()
        self._closed = False
        self._conn: Connection | None = None

    async def run(self, fn: Callable[[Connection], T]) -> T:
        """Run `fn(connection)` in a (possibly shared) write transaction; its result once committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._put(_Unit(fn, loop, future))
        return await future

    def _put(self, unit: _Unit) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("the database is closed")
            if not self._started:
                self._thread.start()
                self._started = True
        self._queue.put(unit)

    def close(self) -> None:
        """Finish the queued units, then stop the thread (blocks: call it off the loop)."""
        with self._lock:
            self._closed = True
            started = self._started
        if started:
            self._queue.put(None)
            self._thread.join()

    # --- on the writer thread --------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                self._drop_connection()
                return
            batch = [first]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    unit = self._queue.get_nowait()
                except queue.Empty:
                    break
                if unit is None:
                    stop = True
                    break
                batch.append(unit)
            batch = [unit for unit in batch if not unit.future.cancelled()]
            if batch:
                self._commit(batch)
            if stop:
                self._drop_connection()
                return

    def _connection(self) -> Connection:
        """The writer's connection, kept between transactions (a pool checkout per transaction cost more
        than a small transaction); a fresh one after a failure may have broken it."""
        conn = self._conn
        if conn is None or conn.closed or conn.invalidated:
            if conn is not None:
                conn.close()
            conn = self._conn = self.engine.connect()
        return conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    def _transaction(self, units: list[_Unit]) -> list[Any]:
        conn = self._connection()
        try:
            with _deferring(conn), conn.begin():
                results = [self._call(conn, unit) for unit in units]
                _flush(conn)
        except BaseException:
            # Whatever failed (a unit, the database, the connection), start the next one afresh.
            self._drop_connection()
            raise
        return results

    def _commit(self, batch: list[_Unit]) -> None:
        try:
            results = self._transaction(batch)
        except Exception as error:
            for unit in batch:
                unit.callbacks.clear()
            if len(batch) == 1:
                _settle(batch[0], error=error)
                return
            for unit in batch:
                self._alone(unit)
            return
        self.transactions += 1
        self.units += len(batch)
        _settle_all(batch, results)

    def _alone(self, unit: _Unit) -> None:
        try:
            (result,) = self._transaction([unit])
        except Exception as error:
            unit.callbacks.clear()
            _settle(unit, error=error)
            return
        self.transactions += 1
        self.units += 1
        _settle(unit, result=result)

    @staticmethod
    def _call(conn: Connection, unit: _Unit) -> Any:
        with collecting_after_commit(conn, unit.callbacks):
            return unit.fn(conn)


@contextlib.contextmanager
def _deferring(conn: Connection) -> Iterator[None]:
    conn.info[_DEFERRED] = {}
    try:
        yield
    finally:
        _forget(conn, _DEFERRED)


def _flush(conn: Connection) -> None:
    pending: dict[Executable, list[dict[str, Any]]] = conn.info.get(_DEFERRED) or {}
    conn.info[_DEFERRED] = None  # from here on, `defer` runs at once
    for statement, rows in pending.items():
        conn.execute(statement, rows)


@contextlib.contextmanager
def collecting_after_commit(conn: Connection, callbacks: list[Callable[[], None]]) -> Iterator[None]:
    """While in the block, `after_commit(conn, …)` appends to `callbacks` (the caller runs them)."""
    conn.info[_AFTER_COMMIT] = callbacks
    try:
        yield
    finally:
        _forget(conn, _AFTER_COMMIT)


def _forget(conn: Connection, key: str) -> None:
    """Take `key` out of `conn.info`, unless the connection was cut (the database restarting): then it
    is dropped with its info, and touching it would raise PendingRollbackError over the real error."""
    if not conn.invalidated:
        conn.info.pop(key, None)


def _settle(unit: _Unit, *, result: Any = None, error: BaseException | None = None) -> None:
    try:
        unit.loop.call_soon_threadsafe(_resolve, unit.future, result, error, tuple(unit.callbacks))
    except RuntimeError:  # the caller's loop is closed: nobody is waiting any more
        log.debug("write_unit_unclaimed")


def _settle_all(batch: list[_Unit], results: list[Any]) -> None:
    """One wake-up of each caller's loop for the whole batch (usually all on one loop)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Unit, Any]]] = {}
    for unit, result in zip(batch, results, strict=True):
        by_loop.setdefault(unit.loop, []).append((unit, result))
    for loop, settled in by_loop.items():
        try:
            loop.call_soon_threadsafe(_resolve_all, settled)
        except RuntimeError:
            log.debug("write_unit_unclaimed")


def _resolve_all(settled: list[tuple[_Unit, Any]]) -> None:
    for unit, result in settled:
        _resolve(unit.future, result, None, tuple(unit.callbacks))


def _resolve(
    future: asyncio.Future[Any],
    result: Any,
    error: BaseException | None,
    callbacks: tuple[Callable[[], None], ...],
) -> None:
    """On the caller's loop."""
    for callback in callbacks:
        callback()
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
