"""Group commit: units of many jobs share a transaction, yet each caller gets its own outcome."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from orderbridge.store import repo, tables
from orderbridge.store.db import Database
from orderbridge.store.group_commit import GroupCommit


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'gc.db'}")
    await database.migrate()
    yield database
    await database.dispose()


def attempt(order_id: str, fail: bool = False) -> Callable[[AsyncSession], Awaitable[str]]:
    async def unit(session: AsyncSession) -> str:
        await repo.add_attempt(session, "shop", order_id, "test", "ok")
        if fail:
            raise ValueError(f"unit {order_id} fails")
        return order_id

    return unit


async def attempts(db: Database) -> list[str]:
    async with db.read_session() as session:
        query = select(tables.attempts.c.order_id).order_by(tables.attempts.c.order_id)
        return list((await session.execute(query)).scalars())


async def test_concurrent_units_share_transactions_and_each_caller_gets_its_result(db: Database) -> None:
    writes = GroupCommit(db)

    results = await asyncio.gather(*(writes.run(attempt(f"o{i:02d}")) for i in range(20)))

    assert results == [f"o{i:02d}" for i in range(20)]
    assert await attempts(db) == results
    assert writes.transactions < 20


async def test_a_failing_unit_fails_alone_and_its_neighbours_still_commit(db: Database) -> None:
    writes = GroupCommit(db)

    outcomes = await asyncio.gather(
        writes.run(attempt("a")),
        writes.run(attempt("b", fail=True)),
        writes.run(attempt("c")),
        return_exceptions=True,
    )

    assert outcomes[0] == "a" and outcomes[2] == "c"
    assert isinstance(outcomes[1], ValueError)
    assert await attempts(db) == ["a", "c"], "the failed unit's statements were rolled back"
    async with db.read_session() as session:
        count = (await session.execute(select(func.count()).select_from(tables.attempts))).scalar_one()
    assert count == 2
