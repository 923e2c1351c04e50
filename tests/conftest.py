"""Shared test fixtures. Room-specific fixtures live in each room's conftest.

`db`: a migrated database per test module on SQLite and on PostgreSQL, emptied before each test (used by
the store and jobs tests; kept here so both run against the very same setup).
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import structlog

from forward_proxy import PROXY_ENV, Proxy, running_proxy, tls_context_and_cert
from orderbridge.store.db import Database
from orderbridge.store.testing import create_migrated_database, delete_all_rows, drop_database

PG_URL_VAR = "ORDERBRIDGE_TEST_PG_URL"


def postgres_url_or_skip() -> str:
    url = os.environ.get(PG_URL_VAR)
    if url:
        return url
    if os.environ.get("CI"):
        pytest.fail(f"{PG_URL_VAR} is not set in CI: `make test` starts PostgreSQL and sets it")
    pytest.skip(f"{PG_URL_VAR} not set (run `make test`, or `. .pg/env`)")


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    """The test PostgreSQL server's URL: skips without one, fails in CI (where `make test` starts it)."""
    return postgres_url_or_skip()


@pytest.fixture(scope="module")
def migrated_postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A new database on the test server, migrated, for one test module; dropped afterwards."""
    url = create_migrated_database(postgres_server_url)
    try:
        yield url
    finally:
        drop_database(url)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("db") / "orderbridge.db"
        url = f"sqlite:///{path}"
        asyncio.run(_migrate(Database(url)))
        yield url
        return
    # Our tables only, as the store's own tests expect (a service adds procrastinate's when it starts).
    url = create_migrated_database(postgres_url_or_skip(), jobs_schema=False)
    try:
        yield url
    finally:
        drop_database(url)


async def _migrate(db: Database) -> None:
    try:
        await db.migrate()
    finally:
        await db.dispose()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await delete_all_rows(database)
    try:
        yield database
    finally:
        await database.dispose()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests run last: Playwright's sync API leaves its event loop running in the main thread
    until the session ends, and every later `asyncio.run()` (the sync fixtures of other rooms) would
    then refuse to start."""
    browser = [item for item in items if "browser" in item.path.parts]
    if browser:
        items[:] = [item for item in items if "browser" not in item.path.parts] + browser


@pytest.fixture(autouse=True)
def _logging_as_it_was() -> Iterator[None]:
    """A test that runs a command in-process configures logging for the whole process (a `warning`
    level from a config file, say); the next test's `capture_logs` would then miss info lines."""
    saved = structlog.get_config()
    root_level = logging.getLogger().level
    yield
    structlog.configure(**saved)
    logging.getLogger().setLevel(root_level)


@pytest.fixture(scope="module")
def forward_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    """A real forward proxy on loopback (proxy.py), shared by a module's tests; see forward_proxy.py."""
    with running_proxy(tmp_path_factory.mktemp("proxy")) as proxy:
        yield proxy


@pytest.fixture
def proxy_free_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No proxy variable from the machine running the tests; a test sets the ones it means."""
    for name in PROXY_ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def tls_server_context(tmp_path: Path) -> tuple[ssl.SSLContext, Path]:
    """A server-side TLS context for 127.0.0.1 with a throwaway self-signed certificate, and that
    certificate (PEM) for the client's `ca_bundle`."""
    return tls_context_and_cert(tmp_path)
