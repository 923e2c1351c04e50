"""The writer's connection cut by PostgreSQL (a restart, a fail-over): the write fails with the database's
own error, not one of SQLAlchemy's about cleaning up after it, and the next write reconnects."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import exc
from sqlalchemy.engine import Connection

from orderbridge.store import tables
from orderbridge.store.db import Database
from orderbridge.store.testing import end_other_sessions
from orderbridge.store.types import utcnow

pytestmark = pytest.mark.postgres


def insert_attempt(order_id: str) -> Callable[[Connection], str]:
    def unit(conn: Connection) -> str:
        conn.execute(
            tables.attempts.insert().values(
                account="shop", order_id=order_id, action="test", outcome="ok", at=utcnow()
            )
        )
        return order_id

    return unit


async def test_a_write_on_a_cut_connection_fails_with_the_database_error_and_the_next_reconnects(
    migrated_postgres_url: str,
) -> None:
    db = Database(migrated_postgres_url)
    try:
        assert await db.write(insert_attempt("before")) == "before"
        end_other_sessions(migrated_postgres_url)  # as a restart of PostgreSQL does

        with pytest.raises(exc.OperationalError) as raised:
            await db.write(insert_attempt("cut"))
        assert not isinstance(raised.value, exc.PendingRollbackError)
        assert "terminating connection" in str(raised.value)

        assert await db.write(insert_attempt("after")) == "after"
    finally:
        await db.dispose()
