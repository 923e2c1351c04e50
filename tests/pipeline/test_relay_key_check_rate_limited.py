"""A command VTEX refuses with 401/403 is rejected only if the key still works (a cheap authenticated
read says so). A 429 on that read is no answer: on procrastinate every 429 is rescheduled, not slept
(`vtex.retry_after_rescheduled`), and the relay must then wait it out, not take it for a working key
and reject the command for a person."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.engine import Connection
from starlette.responses import Response

from orderbridge.core.commands import command_to_dict
from orderbridge.jobs.errors import RetryLater
from orderbridge.jobs.port import Job
from orderbridge.pipeline.relay import relay_command
from orderbridge.store import repo
from orderbridge.vtex import retry_after_rescheduled

from .conftest import ACCOUNT, IDLE_WAREHOUSE, HarnessFactory
from .test_commands import full_invoice, handling_order

FEED_CONFIG = "/api/orders/feed/config"


class KeyCheckRateLimited:
    """VTEX, once armed: an invoice POST is answered 403 and the key check (Get feed config) 429."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.armed = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        method, path = scope.get("method"), scope.get("path", "")
        if self.armed and method == "POST" and path.endswith("/invoice"):
            forbidden = b'{"error":{"code":"403","message":"Forbidden"}}'
            return await Response(forbidden, status_code=403)(scope, receive, send)
        if self.armed and method == "GET" and path == FEED_CONFIG:
            return await Response(b"", status_code=429, headers={"Retry-After": "2"})(scope, receive, send)
        await self.app(scope, receive, send)


async def test_a_rate_limited_key_check_after_a_403_waits_instead_of_rejecting_the_command(
    make_harness: HarnessFactory,
) -> None:
    made: list[KeyCheckRateLimited] = []
    harness = await make_harness(
        warehouse=IDLE_WAREHOUSE, wrap_vtex=lambda app: made.append(KeyCheckRateLimited(app)) or made[-1]
    )
    snapshot = await handling_order(harness)
    invoice = command_to_dict(full_invoice(snapshot))

    def add(conn: Connection) -> str:
        return repo.add_command(conn, ACCOUNT, snapshot.order_id, invoice, "test")

    command_id = await harness.db.write(add)
    made[0].armed = True
    payload = {"account": ACCOUNT, "order_id": snapshot.order_id, "command_id": command_id}
    job = Job(1, "relay_command", f"{ACCOUNT}:{snapshot.order_id}", payload, 1, datetime.now(UTC))

    with retry_after_rescheduled(), pytest.raises(RetryLater) as waited:
        await relay_command(harness.pipeline.deps, job)

    assert waited.value.count_attempt is False and waited.value.delay_s == 2.0
    row = await harness.command(command_id)
    assert row is not None and row.status != "rejected"
