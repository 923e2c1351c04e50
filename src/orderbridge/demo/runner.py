"""`run_demo`: the sandbox and the pipeline (with its simulated warehouse) as two real processes on
loopback, a crowd of orders and a few shoppers who cancel — watched from the outside until every order
is final or time runs out.

Order of events: the sandbox starts; the pipeline (`orderbridge run --config`, the configuration
written into the work directory) starts and configures its feed (we wait for that, or
the first events would find no feed); the orders are created (they sit in the grace period); shoppers
cancel some inside it and, once VTEX started them, some after it; the loop then watches until every
order is delivered, canceled or parked and the feed is empty. The verdict is computed at the end from a
Get order of every order, the sandbox's stats and the warehouse's handover log, and by the invariant
checker (`orderbridge.audit`: the sandbox's ledger, the warehouse's plans, the pipeline's pending jobs).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from orderbridge.audit.gather import audit
from orderbridge.demo.observe import LiveCounts, Observer
from orderbridge.demo.processes import check_alive, pipeline_process
from orderbridge.demo.scenario import (
    ACCOUNT,
    APP_KEY,
    APP_TOKEN,
    DemoOptions,
    ShopperPlan,
    config_toml,
    database_url,
    sandbox_options,
    shopper_plan,
)
from orderbridge.demo.truth import DemoSummary, summarize, with_invariants
from orderbridge.sandbox.client import SandboxClient
from orderbridge.sandbox.testing import sandbox_client, sandbox_subprocess

TICK_S = 0.25
VTEX_HEADERS = {"X-VTEX-API-AppKey": APP_KEY, "X-VTEX-API-AppToken": APP_TOKEN, "Accept": "application/json"}

ProgressCallback = Callable[[LiveCounts, float], None]


class Shoppers:
    """Cancels the planned orders: inside the grace period at once, after it once VTEX started them."""

    def __init__(self, sandbox: SandboxClient, plan: ShopperPlan) -> None:
        self.sandbox = sandbox
        self.waiting = set(plan.after_grace)
        self.plan = plan
        self.refused = 0

    async def add(self, plan: ShopperPlan) -> None:
        """More orders, more shoppers (`orderbridge chaos` creates its orders in waves)."""
        self.plan = ShopperPlan(self.plan.in_grace + plan.in_grace, self.plan.after_grace + plan.after_grace)
        self.waiting.update(plan.after_grace)
        for order_id in plan.in_grace:
            await self.cancel(order_id)

    async def cancel(self, order_id: str) -> None:
        response = await self.sandbox.post(
            f"/_sandbox/orders/{order_id}/customer-cancel", json={"reason": "Changed my mind"}
        )
        if response.status_code == 409:  # too late: already invoiced (a real shopper sees the same)
            self.refused += 1
        else:
            response.raise_for_status()

    async def in_grace(self) -> None:
        for order_id in self.plan.in_grace:
            await self.cancel(order_id)

    async def after_grace(self, started: dict[str, int]) -> None:
        for order_id in sorted(oid for oid in self.waiting if started.get(oid, 0) > 0):
            self.waiting.discard(order_id)
            await self.cancel(order_id)


async def run_demo(
    options: DemoOptions, on_progress: ProgressCallback | None = None, workdir: Path | None = None
) -> DemoSummary:
    """Stage the demo in `workdir` (default: a temporary directory, removed afterwards)."""
    if workdir is not None:
        return await _run_in(options, workdir, on_progress)
    with tempfile.TemporaryDirectory(prefix="orderbridge-demo-") as tmp:
        return await _run_in(options, Path(tmp), on_progress)


async def _run_in(options: DemoOptions, workdir: Path, on_progress: ProgressCallback | None) -> DemoSummary:
    with sandbox_subprocess(**sandbox_options(options)) as base_url:
        config = workdir / "orderbridge.toml"
        config.write_text(config_toml(options, base_url, workdir))
        log_path = workdir / "pipeline.log"
        with pipeline_process(config, log_path) as process:
            async with sandbox_client(base_url, timeout_s=10.0) as sandbox:
                warehouse_db, db_url = workdir / "warehouse.db", database_url(options, workdir)
                observer = Observer(sandbox, VTEX_HEADERS, warehouse_db, ACCOUNT, db_url)
                return await _stage(
                    options, sandbox, observer, lambda: check_alive(process, log_path), on_progress
                )


async def _stage(
    options: DemoOptions,
    sandbox: SandboxClient,
    observer: Observer,
    check_pipeline: Callable[[], None],
    on_progress: ProgressCallback | None,
) -> DemoSummary:
    await wait_for_feed(sandbox, check_pipeline)
    started_at = time.perf_counter()
    response = await sandbox.post("/_sandbox/orders", json={"count": options.orders})
    response.raise_for_status()
    observer.order_ids = list(response.json()["orderIds"])
    shoppers = Shoppers(sandbox, shopper_plan(observer.order_ids, options))
    await shoppers.in_grace()
    deadline = started_at + options.timeout_s
    while True:
        counts, stats = await observer.live()
        elapsed = time.perf_counter() - started_at
        if on_progress is not None:
            on_progress(counts, elapsed)
        await shoppers.after_grace(stats.get("start_handling") or {})
        check_pipeline()
        if (counts.final >= counts.created and counts.feed_depth == 0) or time.perf_counter() > deadline:
            summary = await _verdict(observer, elapsed, shoppers)
            if summary.unfinished == 0 or time.perf_counter() > deadline:
                return summary
        await asyncio.sleep(TICK_S)


async def wait_for_feed(
    sandbox: SandboxClient, check_pipeline: Callable[[], None], timeout_s: float = 30
) -> None:
    """Orders created before the pipeline configured its feed would announce themselves to nobody."""
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        check_pipeline()
        response = await sandbox.get("/api/orders/feed/config", headers=VTEX_HEADERS)
        if response.status_code == 200:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError("the pipeline did not configure the feed in time")


async def _verdict(observer: Observer, elapsed_s: float, shoppers: Shoppers) -> DemoSummary:
    stats = await observer.stats()
    handovers = await observer.handovers()
    orders = await observer.get_orders(observer.order_ids)
    summary = summarize(observer.order_ids, stats, handovers, orders, elapsed_s)
    report = await audit(
        observer.order_ids, observer.sandbox, observer.warehouse_db, observer.database_url, observer.account
    )
    summary = with_invariants(summary, report)
    summary.extra.update(
        {
            "shopper_cancels_in_grace": len(shoppers.plan.in_grace),
            "shopper_cancel_requests": len(shoppers.plan.after_grace) - len(shoppers.waiting),
            "shopper_cancels_too_late": shoppers.refused,
            "erp_rejected": await observer.erp_rejections(),
        }
    )
    return summary
