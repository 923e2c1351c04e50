"""A starting process waits for a database that refuses connections (restarting), within a bound."""

from __future__ import annotations

import socket
import time

import psycopg
import pytest

from orderbridge.store.startup_wait import when_database_answers


def refused_port() -> int:
    """A local port nothing listens on: connecting is refused, as while PostgreSQL restarts."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def connect_refused(port: int) -> None:
    psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", connect_timeout=2).close()


async def test_a_start_that_meets_the_database_refusing_tries_again_until_it_answers() -> None:
    port = refused_port()
    calls: list[float] = []

    async def migrate() -> None:
        calls.append(time.monotonic())
        if len(calls) < 3:
            connect_refused(port)  # the database's restart: a real "connection refused"

    await when_database_answers(migrate, what="migrate", wait_s=10)

    assert len(calls) == 3
    assert calls[1] - calls[0] >= 0.5 and calls[2] - calls[1] >= 1.0  # backing off


async def test_a_database_that_never_answers_ends_the_start_with_its_error_after_the_wait() -> None:
    port = refused_port()
    started = time.monotonic()

    async def migrate() -> None:
        connect_refused(port)

    with pytest.raises(psycopg.OperationalError, match="refused"):
        await when_database_answers(migrate, what="migrate", wait_s=1.2)
    assert time.monotonic() - started < 3.0


async def test_an_error_that_is_not_about_connecting_is_raised_at_once() -> None:
    calls = 0

    async def migrate() -> None:
        nonlocal calls
        calls += 1
        raise ValueError("a broken migration")

    with pytest.raises(ValueError):
        await when_database_answers(migrate, what="migrate", wait_s=10)
    assert calls == 1
