"""`orderbridge status` gives the unfinished jobs by kind — how many, and how long the oldest has waited —
whichever queue holds them (the embedded queue on SQLite, procrastinate on PostgreSQL)."""

from __future__ import annotations

import pytest

from orderbridge.pipeline import operators
from orderbridge.pipeline.deps import RELAY_COMMAND, SYNC_ORDER, lock_of

from .conftest import ACCOUNT, HarnessFactory


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_status_counts_unfinished_jobs_by_kind_with_the_age_of_the_oldest(
    make_harness: HarnessFactory, database: str
) -> None:
    harness = await make_harness(database=database, start=False)
    queue = harness.pipeline.queue
    with harness.db.begin() as conn:
        for order_id in ("o1", "o2"):
            queue.enqueue(conn, kind=SYNC_ORDER, lock=lock_of(ACCOUNT, order_id), payload={})
        queue.enqueue(conn, kind=RELAY_COMMAND, lock=lock_of(ACCOUNT, "o1"), payload={})

    jobs = (await operators.status(harness.db))["jobs"]

    assert {kind: item["pending"] for kind, item in jobs.items()} == {RELAY_COMMAND: 1, SYNC_ORDER: 2}
    assert all(0 <= item["oldest_s"] < 60 for item in jobs.values()), jobs
