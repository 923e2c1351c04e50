"""The SQLite driver under SQLAlchemy: calls run inline, results unchanged, lock waits off the loop."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text

from loop_ticks import counting_ticks
from orderbridge.store.db import Database
from orderbridge.store.sqlite_driver import FusedConnection, connect


async def test_the_database_talks_to_sqlite_through_the_fused_driver(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    try:
        async with db.transaction() as session:
            connection = await session.connection()
            driver = (await connection.get_raw_connection()).driver_connection
            await session.execute(text("CREATE TABLE t (n INTEGER)"))
            await session.execute(text("INSERT INTO t (n) VALUES (:n)"), [{"n": n} for n in range(5)])
            rows = (await session.execute(text("SELECT n FROM t ORDER BY n"))).scalars().all()
            inserted = (await session.execute(text("INSERT INTO t (n) VALUES (9) RETURNING n"))).scalar_one()
        assert isinstance(driver, FusedConnection)
        assert (rows, inserted) == ([0, 1, 2, 3, 4], 9)
    finally:
        await db.dispose()


async def test_rows_fetched_with_the_statement_are_served_by_every_fetch_method(tmp_path: Path) -> None:
    connection = await connect(str(tmp_path / "y.db"))
    try:
        async with connection.cursor() as cursor:
            await cursor.execute("CREATE TABLE t (n INTEGER)")
            await cursor.executemany("INSERT INTO t (n) VALUES (?)", [(n,) for n in range(6)])
            await cursor.execute("SELECT n FROM t ORDER BY n")
            first = await cursor.fetchone()
            two = await cursor.fetchmany(2)
            rest = await cursor.fetchall()
            await cursor.execute("UPDATE t SET n = n + 1 WHERE n < ?", (3,))
            changed = cursor.rowcount
    finally:
        await connection.close()
    assert (first, two, rest, changed) == ((0,), [(1,), (2,)], [(3,), (4,), (5,)], 3)


async def test_a_write_transaction_makes_no_thread_hop_at_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'z.db'}")
    try:
        async with db.transaction() as session:
            await session.execute(text("CREATE TABLE t (n INTEGER)"))
        hops: list[str] = []
        hop = aiosqlite.Connection._execute

        async def counted(self: FusedConnection, fn: Any, *args: Any, **kwargs: Any) -> Any:
            hops.append(getattr(fn, "__name__", "?"))
            return await hop(self, fn, *args, **kwargs)

        monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
        async with db.transaction() as session:
            await session.execute(text("INSERT INTO t (n) VALUES (1)"))
            driver = (await (await session.connection()).get_raw_connection()).driver_connection
            assert isinstance(driver, FusedConnection) and driver.in_transaction
        async with db.transaction() as session:
            assert (await session.execute(text("SELECT count(*) FROM t"))).scalar_one() == 1
        assert hops == []
    finally:
        await db.dispose()


async def test_a_writer_waiting_for_another_connections_lock_does_not_block_the_event_loop(
    tmp_path: Path,
) -> None:
    """Two handles on one file in one process: the second writer waits off the loop, so the first —
    which needs the loop to finish its transaction — commits, and then the second gets the lock."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'w.db'}"
    first, second = Database(url), Database(url)
    try:
        async with first.transaction() as session:
            await session.execute(text("CREATE TABLE t (n INTEGER)"))
        holding = asyncio.Event()

        async def hold_the_lock() -> None:
            async with first.transaction() as session:
                await session.execute(text("INSERT INTO t (n) VALUES (1)"))
                holding.set()
                await asyncio.sleep(0.3)  # the loop must keep turning for this sleep to end

        async def write_behind() -> int:
            await holding.wait()
            async with second.transaction() as session:
                await session.execute(text("INSERT INTO t (n) VALUES (2)"))
                return int((await session.execute(text("SELECT count(*) FROM t"))).scalar_one())

        async with counting_ticks() as ticks, asyncio.timeout(10):
            _, seen = await asyncio.gather(hold_the_lock(), write_behind())
        assert seen == 2  # the second writer saw the first one's committed row: it really waited
        assert ticks.count >= 20  # ~0.3 s of 10 ms ticks: the loop was never blocked by the wait
    finally:
        await first.dispose()
        await second.dispose()
