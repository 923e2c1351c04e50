"""The job table's planner statistics follow the queue (`jobs.queue_statistics`), on PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
from procrastinate import PsycopgConnector

from jobs.queue_harness import eventually
from orderbridge.jobs.queue_statistics import QueueStatistics
from orderbridge.store.procrastinate_schema import (
    LOCK_INDEX,
    ensure_procrastinate_schema,
    libpq_conninfo,
)

pytestmark = pytest.mark.postgres

# procrastinate's choice of the next job (the candidate query of `procrastinate_fetch_job_v2`, without
# its row lock), as the planner sees it.
_CANDIDATE = """
EXPLAIN (FORMAT JSON)
SELECT jobs.id FROM procrastinate_jobs AS jobs
WHERE NOT EXISTS (
    SELECT 1 FROM procrastinate_jobs AS other_jobs
    WHERE jobs.lock IS NOT NULL AND other_jobs.lock = jobs.lock
      AND (other_jobs.status = 'doing'
           OR (other_jobs.status = 'todo' AND (other_jobs.priority > jobs.priority
               OR (other_jobs.priority = jobs.priority AND other_jobs.id < jobs.id)))))
  AND jobs.status = 'todo' AND (jobs.scheduled_at IS NULL OR jobs.scheduled_at <= now())
ORDER BY jobs.priority DESC, jobs.id ASC LIMIT 1
"""


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(node for child in plan.get("Plans", []) for node in _nodes(child))]


class Table:
    """procrastinate's job table, reached directly."""

    def __init__(self, url: str) -> None:
        self.conninfo = libpq_conninfo(url)

    def run(self, sql: str, params: Any = None) -> list[Any]:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            cursor = conn.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    def wait(self, jobs: int) -> None:
        """`jobs` orders' jobs waiting, each of its own lock, as the pollers leave them in a surge."""
        self.run(
            "INSERT INTO procrastinate_jobs (queue_name, task_name, lock, args, status)"
            " SELECT 'orderbridge', 'sync_order', 'acme:' || n, '{}', 'todo'"
            " FROM generate_series(1, %s) AS n",
            (jobs,),
        )

    def fetch_plan(self) -> list[dict[str, Any]]:
        (row,) = self.run(_CANDIDATE)
        plan = row[0] if not isinstance(row[0], str) else json.loads(row[0])
        return _nodes(plan[0]["Plan"])

    def changes(self) -> int:
        (row,) = self.run(
            "SELECT n_mod_since_analyze FROM pg_stat_user_tables WHERE relid = 'procrastinate_jobs'::regclass"
        )
        return int(row[0])

    def analysed_count(self) -> int:
        (row,) = self.run(
            "SELECT analyze_count FROM pg_stat_user_tables WHERE relid = 'procrastinate_jobs'::regclass"
        )
        return int(row[0])


@pytest.fixture
async def table_and_statistics(procrastinate_url: str) -> AsyncIterator[tuple[Table, QueueStatistics]]:
    table = Table(procrastinate_url)
    table.run("DELETE FROM procrastinate_jobs")
    table.run("ANALYZE procrastinate_jobs")  # statistics of an empty queue, as a fresh database has
    connector = PsycopgConnector(conninfo=table.conninfo)
    await connector.open_async()
    try:
        yield table, QueueStatistics(connector, min_changes=500, interval_s=0.0)
    finally:
        await connector.close_async()


async def test_a_queue_grown_past_its_statistics_is_analysed_and_fetching_walks_the_index(
    table_and_statistics: tuple[Table, QueueStatistics],
) -> None:
    table, statistics = table_and_statistics
    table.wait(3000)
    stale = table.fetch_plan()
    # What the statistics of an empty queue make of 3,000 waiting jobs: read them all, then sort.
    assert any(node["Node Type"] == "Sort" for node in stale)

    await _await_counted(table, 3000)
    assert await statistics.refresh() is True

    fresh = table.fetch_plan()
    assert not any(node["Node Type"] == "Sort" for node in fresh)
    assert any(
        node["Node Type"] == "Index Scan"
        and node.get("Relation Name") == "procrastinate_jobs"
        and node.get("Plan Rows", 0) >= 1000
        for node in fresh
    )


async def test_a_queue_that_changed_little_is_not_analysed_again(
    table_and_statistics: tuple[Table, QueueStatistics],
) -> None:
    table, statistics = table_and_statistics
    before = table.analysed_count()
    table.wait(100)  # fewer changes than min_changes
    await _await_counted(table, 100)

    assert await statistics.refresh() is False
    assert table.analysed_count() == before


async def test_statistics_are_looked_at_no_more_often_than_the_interval(procrastinate_url: str) -> None:
    table = Table(procrastinate_url)
    table.run("DELETE FROM procrastinate_jobs")
    table.run("ANALYZE procrastinate_jobs")
    now = [100.0]
    connector = PsycopgConnector(conninfo=table.conninfo)
    await connector.open_async()
    try:
        statistics = QueueStatistics(connector, min_changes=1, interval_s=5.0, clock=lambda: now[0])
        table.wait(10)
        await _await_counted(table, 10)
        assert await statistics.refresh() is True
        table.wait(20)  # the queue tripled since the analysis: due again, but only at the interval
        await _await_counted(table, 20)
        now[0] += 4.0
        assert await statistics.refresh() is False  # too soon: not even looked at
        now[0] += 1.0
        assert await statistics.refresh() is True
    finally:
        await connector.close_async()
        table.run("DELETE FROM procrastinate_jobs")


def test_migrating_a_database_made_before_the_lock_index_adds_it(procrastinate_url: str) -> None:
    table = Table(procrastinate_url)
    table.run(f"DROP INDEX {LOCK_INDEX}")

    before, after = ensure_procrastinate_schema(procrastinate_url)

    assert (before, after) == (False, True)
    assert table.run("SELECT to_regclass(%s) IS NOT NULL", (LOCK_INDEX,)) == [(True,)]


async def _await_counted(table: Table, changes: int) -> None:
    """PostgreSQL counts a session's changes when it ends or within a second; wait for the count."""
    await eventually(lambda: table.changes() >= changes)
