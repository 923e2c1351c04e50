"""Fixtures of the job queue tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

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
