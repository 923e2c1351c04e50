"""Hot statements compiled once and, on the embedded SQLite, run straight on the driver's connection.

Each small statement SQLAlchemy executes costs tens of microseconds of CPU before SQLite sees it:
cache-key generation, an execution context, parameter construction, a result object. On the hot path
(an order's row, its steps, the job queue's claims and outcomes) that was a third of the pipeline's
CPU, many times SQLite's own work. A `Prepared` statement is compiled once per dialect with
SQLAlchemy's compiler, so the SQL, the parameter order and the type processing (UTC timestamps, JSON)
are exactly what SQLAlchemy would have produced; on SQLite only the execution is done here, inside the
session's own transaction (the same connection, the same BEGIN IMMEDIATE … COMMIT).

PostgreSQL keeps SQLAlchemy's execution (`session.execute`): it is the scale-out backend, where the
server's round trip dominates and the driver's own type handling (JSONB, RETURNING) stays in charge.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable
from sqlalchemy.util import await_only

from orderbridge.store.sqlite_driver import FusedConnection

_DRIVER = "orderbridge.fused_connection"
Processor = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class _Slot:
    """One `?` of the compiled SQL: which parameter fills it (or its fixed value) and how it is bound."""

    name: str
    key: str
    fixed: Any
    required: bool
    process: Processor | None


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    slots: tuple[_Slot, ...]
    #: Per returned column, the processor SQLAlchemy would apply to it (None: the value as is).
    results: tuple[Processor | None, ...]


class Prepared:
    """A Core statement (built once, e.g. at module level) ready to run many times.

    `rows()` answers the statement's rows as tuples, in `columns` order (RETURNING or SELECT);
    `execute_many()` runs it once per parameter mapping and answers the rows it changed.
    """

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self.columns: tuple[str, ...] = tuple(
            c.key for c in getattr(statement, "exported_columns", ()) if c.key is not None
        )
        self._compiled: dict[int, _Compiled] = {}

    async def rows(self, session: AsyncSession, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        fused = await _fused(session)
        if fused is None:
            return [tuple(row) for row in await session.execute(self.statement, params)]
        compiled = self._for(session.get_bind().dialect)
        found, _ = await fused.run(compiled.sql, _bind(compiled, params), many=False)
        return _processed(compiled, found or [])

    async def rows_many(
        self, session: AsyncSession, params: Sequence[Mapping[str, Any]]
    ) -> list[tuple[Any, ...]]:
        """`rows()` for each parameter mapping, all the rows together (an INSERT … RETURNING of a batch).

        On SQLite one inline execution each; elsewhere SQLAlchemy's multi-row INSERT, one round trip."""
        if not params:
            return []
        fused = await _fused(session)
        if fused is None:
            return [tuple(row) for row in await session.execute(self.statement, list(params))]
        compiled = self._for(session.get_bind().dialect)
        found: list[Any] = []
        for one in params:
            rows, _ = await fused.run(compiled.sql, _bind(compiled, one), many=False)
            found.extend(rows or [])
        return _processed(compiled, found)

    async def execute_many(self, session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> int:
        if not rows:
            return 0
        fused = await _fused(session)
        if fused is None:
            connection = await session.connection()
            return int((await connection.execute(self.statement, list(rows))).rowcount)
        compiled = self._for(session.get_bind().dialect)
        _, count = await fused.run(compiled.sql, [_bind(compiled, row) for row in rows], many=True)
        return count

    def execute_many_sync(self, session: Session, rows: Sequence[Mapping[str, Any]]) -> int:
        """`execute_many` from SQLAlchemy's synchronous side (an event listener of an async session)."""
        connection = session.connection()
        driver = connection.connection.driver_connection
        if not isinstance(driver, FusedConnection):
            return int(connection.execute(self.statement, list(rows)).rowcount)
        compiled = self._for(connection.dialect)
        call = driver.run(compiled.sql, [_bind(compiled, row) for row in rows], many=True)
        _, count = await_only(call)
        return count

    def _for(self, dialect: Dialect) -> _Compiled:
        # Keyed by the dialect object: the engine's dialect carries its JSON serializer.
        compiled = self._compiled.get(id(dialect))
        if compiled is None:
            compiled = self._compiled[id(dialect)] = _compile(self.statement, dialect)
        return compiled


def _compile(statement: Executable, dialect: Dialect) -> _Compiled:
    compiled: Any = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
    if compiled.positiontup is None:
        raise TypeError(f"{dialect.name}'s paramstyle is not positional: run it through SQLAlchemy")
    slots = []
    for name in compiled.positiontup:
        bind = compiled.binds[name]
        if bind.expanding:
            raise TypeError("an expanding IN parameter cannot be prepared once; use SQLAlchemy")
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        fixed = None if bind.required else bind.effective_value
        if process is not None and not bind.required:
            fixed = process(fixed)
        slots.append(_Slot(name, bind.key, fixed, bind.required, process))
    results = tuple(
        column.type.dialect_impl(dialect).result_processor(dialect, None)
        for column in getattr(statement, "exported_columns", ())
    )
    return _Compiled(compiled.string, tuple(slots), results)


def _bind(compiled: _Compiled, params: Mapping[str, Any]) -> list[Any]:
    values = []
    for slot in compiled.slots:
        if slot.key in params:
            value = params[slot.key]
        elif slot.name in params:
            value = params[slot.name]
        elif slot.required:
            raise KeyError(f"a value is required for bind parameter {slot.key!r}")
        else:
            values.append(slot.fixed)
            continue
        # None goes through the processor too, as in SQLAlchemy (a JSON column stores it as 'null').
        values.append(value if slot.process is None else slot.process(value))
    return values


def _processed(compiled: _Compiled, rows: list[Any]) -> list[tuple[Any, ...]]:
    processors = compiled.results
    if rows and processors and len(rows[0]) != len(processors):
        # A text() statement typed for some of its columns only: positions would not line up.
        raise TypeError(f"{len(rows[0])} columns returned, {len(processors)} declared")
    if not any(processors):
        return [tuple(row) for row in rows]
    return [
        tuple(value if p is None else p(value) for p, value in zip(processors, row, strict=True))
        for row in rows
    ]


async def _fused(session: AsyncSession) -> FusedConnection | None:
    """The session's SQLite driver connection for this transaction; None on any other database."""
    info = session.info
    if _DRIVER in info:
        driver: FusedConnection | None = info[_DRIVER]
        return driver
    connection = await session.connection()  # begins the transaction if it has not begun yet
    raw = await connection.get_raw_connection()
    found = raw.driver_connection
    driver = found if isinstance(found, FusedConnection) else None
    info[_DRIVER] = driver
    return driver


@event.listens_for(Session, "after_transaction_end")
def _forget_driver(session: Session, _transaction: Any) -> None:
    # The next transaction may check out another pooled connection.
    session.info.pop(_DRIVER, None)
