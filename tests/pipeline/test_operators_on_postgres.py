"""Operators on PostgreSQL, where jobs are procrastinate's rows (issue 12): `orderbridge status` counts
an account's pending and parked jobs, and `orderbridge orders retry` runs a parked job again."""

from __future__ import annotations

import asyncio
import json
import os
import socket

import pytest
from typer.testing import CliRunner

from orderbridge.cli import app
from orderbridge.jobs.procrastinate_queue import ProcrastinateQueue
from orderbridge.pipeline.deps import SYNC_ORDER, lock_of
from orderbridge.pipeline.singletons import AdvisoryLocks
from orderbridge.store.job_rows import job_rows

from .conftest import ACCOUNT, HarnessFactory
from .job_states import set_status

pytestmark = pytest.mark.postgres


async def test_status_counts_procrastinates_jobs_and_orders_retry_runs_a_parked_one_again(
    make_harness: HarnessFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness = await make_harness(database="postgres", start=False)
    await harness.pipeline.prepare()  # the account registered, as a started service has it
    queue = harness.pipeline.queue
    assert isinstance(queue, ProcrastinateQueue)
    with harness.db.begin() as conn:
        parked = queue.enqueue(conn, kind=SYNC_ORDER, lock=lock_of(ACCOUNT, "o1"), payload={})
        queue.enqueue(conn, kind=SYNC_ORDER, lock=lock_of(ACCOUNT, "o2"), payload={})
    assert parked is not None
    async with harness.pipeline.queue_open():
        await queue.notes.park(parked, "gave up after 8 attempts: ErpUnavailable")
    with harness.db.begin() as conn:
        set_status(conn, "parked", lock=lock_of(ACCOUNT, "o1"))
    monkeypatch.setenv("ORDERBRIDGE_DATABASE_URL", harness.db.url.render_as_string(hide_password=False))
    runner = CliRunner()

    status = await asyncio.to_thread(runner.invoke, app, ["status", "--json"])
    retried = await asyncio.to_thread(runner.invoke, app, ["orders", "retry", "o1", "--account", ACCOUNT])

    assert status.exit_code == 0, status.output
    counts = json.loads(status.output)["accounts"][ACCOUNT]
    assert (counts["jobs_pending"], counts["jobs_parked"]) == (1, 1)
    assert retried.exit_code == 0, retried.output
    assert f"requeued jobs: [{parked}]" in retried.output
    with harness.db.connect() as conn:
        jobs = job_rows(conn)
        rows = conn.execute(jobs.select().where(jobs.c.id == parked)).mappings().one()
    assert rows["status"] in ("ready", "retry"), "the parked job waits to run again"
    assert rows["last_error"] is None


async def test_status_lists_which_process_runs_each_cluster_loop_and_the_job_workers(
    make_harness: HarnessFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness = await make_harness(database="postgres", start=False)
    await harness.pipeline.prepare()
    url = harness.db.url.render_as_string(hide_password=False)
    monkeypatch.setenv("ORDERBRIDGE_DATABASE_URL", url)
    stop = asyncio.Event()
    singletons = AdvisoryLocks(harness.db.url, retry_s=0.05)
    holding = asyncio.create_task(singletons.run({f"feed:{ACCOUNT}": lambda s: s.wait()}, stop))
    async with harness.pipeline.queue_open():
        working = asyncio.create_task(harness.pipeline.queue.run(stop))
        try:
            for _ in range(200):
                if singletons.held:
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.3)  # the worker registered itself
            status = await asyncio.to_thread(CliRunner().invoke, app, ["status", "--json"])
            table = await asyncio.to_thread(CliRunner().invoke, app, ["status"])
        finally:
            stop.set()
            await asyncio.gather(holding, working)

    assert status.exit_code == 0, status.output
    cluster = json.loads(status.output)["cluster"]
    assert cluster["loops"][f"feed:{ACCOUNT}"] == {"pid": os.getpid(), "host": "127.0.0.1"}
    assert cluster["loops"][f"reconcile:{ACCOUNT}"] is None, "nobody runs it: shown as such"
    assert [(w["host"], w["pid"], w["jobs_running"]) for w in cluster["workers"]] == [
        (socket.gethostname(), os.getpid(), 0)
    ]
    assert f"pid {os.getpid()} on 127.0.0.1" in table.output and "not running" in table.output
