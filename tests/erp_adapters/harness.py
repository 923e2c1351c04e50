"""Real parts for end-to-end tests of the ERP channels: the VTEX sandbox over loopback HTTP, the pipeline
(its `Pipeline`, `PipelineSink`, job queue and store on a fresh SQLite file), and whatever ERP adapter the
test plays. The sandbox's `/_sandbox/stats` is the ground truth of what reached VTEX."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
from sqlalchemy import func, select

from orderbridge.core.orders import OrderSnapshot
from orderbridge.erp.port import ErpAdapter
from orderbridge.pipeline.commands import PipelineSink
from orderbridge.pipeline.deps import AccountPolicy, Timing
from orderbridge.pipeline.runtime import Pipeline
from orderbridge.sandbox.config import SandboxConfig
from orderbridge.sandbox.testing import SandboxServer
from orderbridge.store import repo, tables
from orderbridge.store.db import Database
from orderbridge.vtex import VtexClient

ACCOUNT = "acme"
APP_KEY = "vtexappkey-acme-test"
APP_TOKEN = "apptoken-acme-SECRET-test"


@dataclass
class Harness:
    pipeline: Pipeline
    db: Database
    admin: httpx2.AsyncClient
    sandbox: SandboxServer

    @property
    def sink(self) -> PipelineSink:
        return self.pipeline.sink

    async def new_orders(self, count: int) -> list[str]:
        response = await self.admin.post("/_sandbox/orders", json={"count": count})
        response.raise_for_status()
        ids: list[str] = response.json()["orderIds"]
        return ids

    async def stats(self) -> dict[str, Any]:
        response = await self.admin.get("/_sandbox/stats")
        response.raise_for_status()
        stats: dict[str, Any] = response.json()
        return stats

    async def vtex_calls(self) -> int:
        """VTEX calls the sandbox answered so far, all statuses, all endpoints but the feed's (the pollers
        read the feed all the time, whatever the ERP does)."""
        calls = (await self.stats())["calls"]
        return sum(sum(by.values()) for name, by in calls.items() if not name.startswith("feed"))

    async def vtex_order(self, order_id: str) -> dict[str, Any]:
        response = await self.admin.get(
            f"/api/oms/pvt/orders/{order_id}",
            headers={"X-VTEX-API-AppKey": APP_KEY, "X-VTEX-API-AppToken": APP_TOKEN},
        )
        response.raise_for_status()
        order: dict[str, Any] = response.json()
        return order

    async def settled(self) -> None:
        """Wait until the pipeline has nothing left to do: every feed event committed, no job unfinished.
        Only then is a count of VTEX calls a fair "before" figure."""

        async def quiet() -> bool:
            if (await self.stats())["feed_depth"]:
                return False
            query = (
                select(func.count())
                .select_from(tables.jobs)
                .where(tables.jobs.c.status.in_(tables.UNFINISHED_JOB_STATUSES))
            )
            with self.db.connect() as session:
                return int((session.execute(query)).scalar_one()) == 0

        await eventually(quiet, what="the pipeline to settle")

    async def order_row(self, order_id: str) -> repo.OrderRow | None:
        with self.db.connect() as session:
            return repo.get_order(session, ACCOUNT, order_id)

    async def snapshot(self, order_id: str) -> OrderSnapshot:
        snapshot = await self.sink.current_order(ACCOUNT, order_id)
        assert snapshot is not None
        return snapshot


async def eventually(
    check: Callable[[], Awaitable[bool]], *, timeout_s: float = 30.0, what: str = ""
) -> None:
    """Poll `check` until true (bounded); the failure message says what never happened."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for: {what or check}")


def _feed_configured(harness: Harness) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return APP_KEY in (await harness.stats()).get("feed", {})

    return check


@asynccontextmanager
async def running_pipeline(
    tmp_path: Path,
    erp: ErpAdapter,
    *,
    sandbox: SandboxConfig | None = None,
    policy: AccountPolicy | None = None,
    requests_per_second: float | None = None,
) -> AsyncIterator[Harness]:
    config = sandbox or SandboxConfig(
        account_name=ACCOUNT, app_key=APP_KEY, app_token=APP_TOKEN, invoice_settle_s=0.1, cancel_settle_s=0.1
    )
    db = Database(f"sqlite:///{tmp_path / 'orderbridge.db'}")
    await db.migrate()
    async with SandboxServer(config) as server:
        client = VtexClient(
            ACCOUNT, APP_KEY, APP_TOKEN, base_url=server.base_url, requests_per_second=requests_per_second
        )
        timing = Timing(feed_idle_min_s=0.02, feed_idle_max_s=0.1, feed_error_s=0.1, change_poll_s=0.05)
        pipeline = Pipeline(
            db,
            {ACCOUNT: client},
            erp,
            {ACCOUNT: policy or AccountPolicy(ACCOUNT, pollers=1)},
            timing=timing,
            workers=8,
            queue_options={"retry_base_s": 0.05},  # retries after an ERP outage come quickly in tests
        )
        stop = asyncio.Event()
        task = asyncio.create_task(pipeline.run(stop))
        async with httpx2.AsyncClient(base_url=server.base_url) as admin:
            harness = Harness(pipeline, db, admin, server)
            try:
                # Orders created before the pipeline configured its feed would never reach it.
                await eventually(_feed_configured(harness), what="the pipeline's feed configuration")
                yield harness
            finally:
                stop.set()
                await asyncio.wait_for(task, timeout=20)
                await client.aclose()
                await db.dispose()
