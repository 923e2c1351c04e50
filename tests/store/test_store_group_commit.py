"""The database's threads: writes on one writer thread in group commits, reads off the loop, WAL checked."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection

from loop_ticks import counting_ticks
from orderbridge.store import tables
from orderbridge.store.db import Database, WalUnavailable
from orderbridge.store.group_commit import after_commit
from orderbridge.store.types import utcnow


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'writer.db'}")
    await database.migrate()
    yield database
    await database.dispose()


def attempt(order_id: str, fail: bool = False) -> Callable[[Connection], str]:
    def unit(conn: Connection) -> str:
        conn.execute(
            tables.attempts.insert().values(
                account="shop", order_id=order_id, action="test", outcome="ok", at=utcnow()
            )
        )
        if fail:
            raise ValueError(f"unit {order_id} fails")
        return order_id

    return unit


def stored(conn: Connection) -> list[str]:
    query = select(tables.attempts.c.order_id).order_by(tables.attempts.c.order_id)
    return list(conn.execute(query).scalars())


def blocking_unit(entered: threading.Event, release: threading.Event) -> Callable[[Connection], str]:
    def unit(conn: Connection) -> str:
        entered.set()
        release.wait(5)
        return attempt("first")(conn)

    return unit


async def test_a_lone_write_commits_at_once_in_its_own_transaction(db: Database) -> None:
    for i in range(3):
        assert await db.write(attempt(f"o{i}")) == f"o{i}"

    assert db.group_commit.transactions == 3, "an idle writer never waits for company"
    assert await db.read(stored) == ["o0", "o1", "o2"]


async def test_units_that_queue_while_a_transaction_commits_share_the_next_one(db: Database) -> None:
    entered, release = threading.Event(), threading.Event()
    first = asyncio.create_task(db.write(blocking_unit(entered, release)))
    await asyncio.get_running_loop().run_in_executor(None, entered.wait, 5)
    queued = [asyncio.create_task(db.write(attempt(f"q{i:02d}"))) for i in range(10)]
    await asyncio.sleep(0.05)
    release.set()

    assert await first == "first"
    assert await asyncio.gather(*queued) == [f"q{i:02d}" for i in range(10)]
    assert db.group_commit.transactions == 2, "the ten queued units went in one transaction"
    assert db.group_commit.units == 11


async def test_a_failing_unit_fails_alone_and_its_neighbours_still_commit(db: Database) -> None:
    entered, release = threading.Event(), threading.Event()
    first = asyncio.create_task(db.write(blocking_unit(entered, release)))
    await asyncio.get_running_loop().run_in_executor(None, entered.wait, 5)
    batch = [
        asyncio.create_task(db.write(attempt("a"))),
        asyncio.create_task(db.write(attempt("b", fail=True))),
        asyncio.create_task(db.write(attempt("c"))),
    ]
    await asyncio.sleep(0.05)
    release.set()
    await first

    outcomes = await asyncio.gather(*batch, return_exceptions=True)

    assert outcomes[0] == "a" and outcomes[2] == "c"
    assert isinstance(outcomes[1], ValueError)
    assert await db.read(stored) == ["a", "c", "first"], "the failed unit's statements were rolled back"


async def test_after_commit_callbacks_run_on_the_loop_only_for_committed_units(db: Database) -> None:
    called: list[tuple[str, bool]] = []
    loop_thread = threading.get_ident()

    def unit(name: str, fail: bool) -> Callable[[Connection], None]:
        def run(conn: Connection) -> None:
            after_commit(conn, lambda: called.append((name, threading.get_ident() == loop_thread)))
            attempt(name, fail)(conn)

        return run

    await db.write(unit("kept", False))
    with pytest.raises(ValueError):
        await db.write(unit("lost", True))

    assert called == [("kept", True)]


async def test_a_slow_read_does_not_stall_the_event_loop(db: Database) -> None:
    def slow(conn: Connection) -> int:
        raw = conn.connection.driver_connection
        assert raw is not None
        raw.create_function("pause_ms", 1, lambda ms: time.sleep(ms / 1000) or ms)
        return int(conn.execute(text("SELECT pause_ms(400)")).scalar_one())

    async with counting_ticks(0.01) as ticks:
        assert await db.read(slow) == 400

    # 400 ms at 10 ms a tick: a loop blocked by the read would have ticked once or twice.
    assert ticks.count >= 10


async def test_reads_see_what_committed_writes_wrote(db: Database) -> None:
    await db.write(attempt("x"))

    count = await db.read(
        lambda conn: conn.execute(select(func.count()).select_from(tables.attempts)).scalar_one()
    )

    assert count == 1


async def test_sqlite_is_tuned_for_one_writer_and_bounded_checkpoints(db: Database) -> None:
    def pragmas(conn: Connection) -> dict[str, object]:
        names = ("journal_mode", "synchronous", "foreign_keys", "wal_autocheckpoint", "journal_size_limit")
        return {name: conn.exec_driver_sql(f"PRAGMA {name}").scalar_one() for name in names}

    assert await db.read(pragmas) == {
        "journal_mode": "wal",
        "synchronous": 1,  # NORMAL
        "foreign_keys": 1,
        "wal_autocheckpoint": 1000,
        "journal_size_limit": 64 * 1024 * 1024,
    }


async def test_a_database_file_that_cannot_use_wal_is_refused_with_its_name(tmp_path: Path) -> None:
    # A VFS without shared memory or locks: SQLite keeps its rollback journal, as on many network
    # file systems, and says so only in the answer to `PRAGMA journal_mode=WAL`.
    path = tmp_path / "nfs-like.db"
    db = Database(f"sqlite:///file:{path}?vfs=unix-none&uri=true")
    try:
        with pytest.raises(WalUnavailable, match=str(path)):
            await db.migrate()
    finally:
        await db.dispose()


def test_an_in_memory_sqlite_database_is_refused() -> None:
    with pytest.raises(ValueError, match="in-memory"):
        Database("sqlite:///:memory:")
