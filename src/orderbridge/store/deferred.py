"""Writes that run at commit, as one `executemany` per statement.

On the hot path most writes are small, blind (nobody reads their result) and of a few fixed shapes:
"record this attempt", "move that order to state X". Executed one by one, each costs a full
SQLAlchemy execution plus, on SQLite, several hops to aiosqlite's thread — far more than the write
itself. Deferred, they are kept on the session and sent just before COMMIT, every row of one
statement in a single `executemany` (tens of microseconds per row instead of hundreds).

They stay inside the transaction: they commit with it or roll back with it, so "recorded" keeps
meaning durable. Only defer a write that nothing later in the same transaction reads back.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

from orderbridge.store.prepared import Prepared

_PENDING = "orderbridge.deferred_writes"
#: Deferred statements are module-level constants: a handful, each compiled once.
_PREPARED: dict[Executable, Prepared] = {}


def defer(session: AsyncSession, statement: Executable, params: dict[str, Any]) -> None:
    """Run `statement` with `params` when the session's transaction commits (batched with its likes).

    `statement` must be built once (a module-level constant): rows are grouped by the statement object.
    """
    pending: dict[Executable, list[dict[str, Any]]] = session.info.setdefault(_PENDING, {})
    pending.setdefault(statement, []).append(params)


@event.listens_for(Session, "before_commit")
def _write_deferred(session: Session) -> None:
    pending: dict[Executable, list[dict[str, Any]]] | None = session.info.pop(_PENDING, None)
    if not pending:
        return
    for statement, rows in pending.items():
        prepared = _PREPARED.get(statement)
        if prepared is None:
            prepared = _PREPARED[statement] = Prepared(statement)
        prepared.execute_many_sync(session, rows)


@event.listens_for(Session, "after_rollback")
def _forget_deferred(session: Session) -> None:
    session.info.pop(_PENDING, None)
