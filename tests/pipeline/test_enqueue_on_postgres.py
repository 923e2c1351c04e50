"""On PostgreSQL the pipeline's enqueue runs procrastinate's SQL on the store's writer thread, in the
transaction of the state change (issue 12): a write that fails leaves neither the change nor its job,
one that commits leaves both."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Connection

from orderbridge.jobs.procrastinate_queue import ProcrastinateQueue
from orderbridge.pipeline.deps import SYNC_ORDER, lock_of
from orderbridge.store import repo, tables
from orderbridge.store.job_rows import job_rows

from .conftest import ACCOUNT, HarnessFactory

pytestmark = pytest.mark.postgres


class _Refused(Exception):
    pass


async def test_a_job_exists_exactly_when_the_writers_transaction_that_enqueued_it_commits(
    make_harness: HarnessFactory,
) -> None:
    harness = await make_harness(database="postgres", start=False)
    queue = harness.pipeline.queue
    assert isinstance(queue, ProcrastinateQueue)

    def change_and_enqueue(order_id: str, fail: bool) -> Callable[[Connection], None]:
        def write(conn: Connection) -> None:
            repo.upsert_account(conn, f"acct-{order_id}", {})
            queue.enqueue(conn, kind=SYNC_ORDER, lock=lock_of(ACCOUNT, order_id), payload={"o": order_id})
            if fail:
                raise _Refused

        return write

    with pytest.raises(_Refused):
        await harness.db.write(change_and_enqueue("o1", fail=True))
    await harness.db.write(change_and_enqueue("o2", fail=False))

    def read(conn: Connection) -> tuple[list[str], list[str]]:
        jobs = job_rows(conn)
        locks = [str(lock) for lock in conn.execute(select(jobs.c.lock)).scalars()]
        names = select(tables.accounts.c.name).where(tables.accounts.c.name.like("acct-%"))
        return locks, [str(name) for name in conn.execute(names).scalars()]

    locks, accounts = await harness.db.read(read)
    assert locks == [lock_of(ACCOUNT, "o2")]
    assert accounts == ["acct-o2"]
