"""A relay marks its command `sending` only from the state it read: a second run of the same command that
read the same state (the queue ran the job twice at once: a stalled-job sweep meeting a live run, as the
chaos run on a cluster did) backs off instead of sending too. The queue must not run a job twice at once
(tests/jobs/test_jobs_stalled.py); this is the relay's own guard for when it does."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.engine import Connection

from orderbridge.core.commands import command_to_dict
from orderbridge.jobs.errors import RetryLater
from orderbridge.jobs.port import Job
from orderbridge.pipeline.relay import relay_command
from orderbridge.store import repo

from .conftest import ACCOUNT, IDLE_WAREHOUSE, HarnessFactory
from .test_commands import full_invoice, handling_order


class ChecksTogether:
    """VTEX, where once armed, a Get order waits for a second one (up to 5 s): two runs' checks read
    the order at the same moment, before either has marked, sent or found anything."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.armed = False
        self.waiting = 0
        self.both = asyncio.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if self.armed and scope.get("method") == "GET" and path.startswith("/api/oms/pvt/orders/"):
            self.waiting += 1
            if self.waiting >= 2:
                self.both.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.both.wait(), 5.0)
        await self.app(scope, receive, send)


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
async def test_two_runs_of_one_relay_that_found_it_sending_post_the_invoice_once(
    make_harness: HarnessFactory, database: str
) -> None:
    made: list[ChecksTogether] = []
    harness = await make_harness(
        warehouse=IDLE_WAREHOUSE,
        database=database,
        wrap_vtex=lambda app: made.append(ChecksTogether(app)) or made[-1],
    )
    snapshot = await handling_order(harness)
    invoice = command_to_dict(full_invoice(snapshot))

    def crashed_while_sending(conn: Connection) -> str:
        """An invoice whose run marked it `sending` and died before its POST (no job left for it)."""
        command_id = repo.add_command(conn, ACCOUNT, snapshot.order_id, invoice, "test")
        repo.set_command_status(conn, command_id, "sending", vtex_receipt={"changesBefore": 0})
        return command_id

    command_id = await harness.db.write(crashed_while_sending)
    made[0].armed = True
    payload = {"account": ACCOUNT, "order_id": snapshot.order_id, "command_id": command_id}
    job = Job(1, "relay_command", f"{ACCOUNT}:{snapshot.order_id}", payload, 2, datetime.now(UTC))
    deps = harness.pipeline.deps

    outcomes = await asyncio.gather(
        relay_command(deps, job), relay_command(deps, job), return_exceptions=True
    )

    assert (await harness.stats())["invoices"][snapshot.order_id]["posts"] == 1
    assert sum(isinstance(outcome, RetryLater) for outcome in outcomes) == 1, outcomes
    row = await harness.command(command_id)
    assert row is not None and row.status in ("sent", "confirmed")
