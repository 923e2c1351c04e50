"""Fixtures of the job queue tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from jobs.queue_harness import PostgresHarness
from orderbridge.store.procrastinate_schema import ensure_procrastinate_schema
from orderbridge.store.testing import create_migrated_database, drop_database


@pytest.fixture(scope="module")
def procrastinate_url(postgres_server_url: str) -> Iterator[str]:
    """A migrated PostgreSQL database with procrastinate's schema, as `orderbridge migrate` leaves it."""
    url = create_migrated_database(postgres_server_url)
    try:
        ensure_procrastinate_schema(url)
        yield url
    finally:
        drop_database(url)


@pytest.fixture
async def pg(procrastinate_url: str) -> AsyncIterator[PostgresHarness]:
    """A procrastinate queue harness on `procrastinate_url`, its tables emptied for the test."""
    harness = PostgresHarness(procrastinate_url)
    harness.empty()
    try:
        yield harness
    finally:
        await harness.close()
