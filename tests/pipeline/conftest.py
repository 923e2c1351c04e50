"""A whole pipeline around an in-process sandbox and a simulated warehouse, wired like production.

`Harness` starts the `Pipeline` (queue, feed pollers, sink, warehouse) on the test's event loop, talks
to the sandbox's admin API for ground truth (`/_sandbox/stats`), and waits for conditions with a
deadline (never a bare sleep).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest

from orderbridge.api.app import create_api
from orderbridge.erp.warehouse import SimulatedWarehouse, WarehouseSettings
from orderbridge.metrics import observe_vtex_call
from orderbridge.pipeline.deps import AccountPolicy, Timing
from orderbridge.pipeline.runtime import Pipeline
from orderbridge.sandbox.app import create_app
from orderbridge.sandbox.config import SandboxConfig
from orderbridge.store import repo
from orderbridge.store.db import Database
from orderbridge.store.testing import create_migrated_database, drop_database, fresh_postgres
from orderbridge.vtex import VtexClient
from orderbridge.vtex.retry import RetryPolicy

ACCOUNT = "shop"
APP_KEY = "vtexappkey-shop"
APP_TOKEN = "shop-token"
SANDBOX_URL = "http://sandbox.test"

FAST_TIMING = Timing(
    feed_idle_min_s=0.01,
    feed_idle_max_s=0.05,
    feed_error_s=0.05,
    paused_probe_s=0.2,
    change_poll_s=0.05,
    vtex_outage_retry_s=0.05,
    vtex_outage_retry_max_s=0.2,
    incomplete_recheck_s=0.05,
    incomplete_recheck_max_s=0.2,
)
QUIET_WAREHOUSE = WarehouseSettings(
    first_step_delay_s=0.0,
    step_delay_s=0.0,
    retry_delay_s=0.05,
    self_cancel_ratio=0.0,
    out_of_stock_ratio=0.0,
    partial_invoice_ratio=0.0,
    tracking_events=1,
    idle_poll_s=0.05,
)


def sandbox_config(**overrides: Any) -> SandboxConfig:
    base: dict[str, Any] = {
        "account_name": ACCOUNT,
        "app_key": APP_KEY,
        "app_token": APP_TOKEN,
        "invoice_settle_s": 0.02,
        "cancel_settle_s": 0.02,
        "change_v2_settle_s": 0.02,
    }
    return SandboxConfig(**{**base, **overrides})


@dataclass
class Harness:
    app: Any
    admin: httpx2.AsyncClient
    client: VtexClient
    db: Database
    warehouse: SimulatedWarehouse
    pipeline: Pipeline
    api: Any
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.pipeline.prepare()
        self.task = asyncio.create_task(self.pipeline.run(self.stop))

    async def shutdown(self) -> None:
        self.stop.set()
        if self.task is not None:
            await asyncio.wait_for(self.task, 15)
            self.task = None

    async def create_orders(self, count: int, **extra: Any) -> list[str]:
        response = await self.admin.post("/_sandbox/orders", json={"count": count, **extra})
        assert response.status_code in (200, 201), response.text
        ids: list[str] = response.json()["orderIds"]
        return ids

    async def stats(self) -> dict[str, Any]:
        body: dict[str, Any] = (await self.admin.get("/_sandbox/stats")).json()
        return body

    async def faults(self, profile: dict[str, Any]) -> None:
        response = await self.admin.put("/_sandbox/faults", json=profile)
        assert response.status_code == 200, response.text

    async def advance(self, seconds: float) -> None:
        response = await self.admin.post("/_sandbox/clock/advance", json={"seconds": seconds})
        assert response.status_code == 200, response.text

    async def order_row(self, order_id: str) -> Any:
        with self.db.connect() as session:
            return repo.get_order(session, ACCOUNT, order_id)

    async def command(self, command_id: str) -> Any:
        with self.db.connect() as session:
            return repo.get_command(session, command_id)

    async def in_state(self, order_id: str, state: str) -> bool:
        row = await self.order_row(order_id)
        return row is not None and row.pipeline_state == state

    async def deliver_hooks(self) -> None:
        response = await self.admin.post("/_sandbox/hooks/deliver")
        assert response.status_code == 200, response.text

    async def vtex_order(self, order_id: str) -> dict[str, Any]:
        return (await self.client.get_order(order_id)).raw

    async def wait_for(
        self, condition: Callable[[], Awaitable[bool]], timeout_s: float = 20.0, what: str = "condition"
    ) -> None:
        """Poll `condition` until true; fail with `what` after `timeout_s` (a deadline, not a timing)."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not await condition():
            if self.task is not None and self.task.done():
                self.task.result()
                raise AssertionError(f"the pipeline stopped before {what}")
            if asyncio.get_running_loop().time() > deadline:
                dump = await debug_dump(self)
                raise AssertionError(f"timed out waiting for {what}; stats: {await self.stats()}\n{dump}")
            await asyncio.sleep(0.02)

    async def all_final(self, order_ids: list[str]) -> bool:
        """Every order ended at VTEX (invoiced and delivered, or canceled), the warehouse is done and the
        feed is empty (looked at last: the step that makes an order final puts its event in the feed)."""
        if not self.warehouse.path.exists():
            return False  # the pipeline has not started its ERP yet (it registers the accounts first)
        states = self.warehouse.summary().states
        if any(state not in FINAL_WAREHOUSE for state in states):
            return False
        for order_id in order_ids:
            order = await self.vtex_order(order_id)
            if order["status"] == "canceled":
                continue
            packages = (order.get("packageAttachment") or {}).get("packages") or []
            delivered = packages and all((p.get("courierStatus") or {}).get("finished") for p in packages)
            if order["status"] != "invoiced" or not delivered:
                return False
        return bool((await self.stats())["feed_depth"] == 0)


IDLE_WAREHOUSE = WarehouseSettings(**{**QUIET_WAREHOUSE.model_dump(), "first_step_delay_s": 3600.0})
"""Accepts orders and then does nothing in a test's lifetime: the test sends the commands itself."""

FINAL_WAREHOUSE = frozenset({"rejected", "delivered", "done", "self_canceled", "canceled"})


HarnessFactory = Callable[..., Awaitable[Harness]]


class Forward:
    """An ASGI app that forwards to `target`, set once the pipeline's API exists (the sandbox's hook
    deliveries need a transport when the sandbox is created, before the pipeline is)."""

    target: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.target(scope, receive, send)


@pytest.fixture
def cluster_url(postgres_server_url: str) -> Iterator[str]:
    """A new database on the test server, migrated (procrastinate's schema too), for the processes of
    one test to share; dropped afterwards."""
    url = create_migrated_database(postgres_server_url)
    try:
        yield url
    finally:
        drop_database(url)


@pytest.fixture
async def make_harness(tmp_path: Path) -> AsyncIterator[HarnessFactory]:
    made: list[Harness] = []
    stack = contextlib.AsyncExitStack()

    async def make(
        *,
        sandbox: SandboxConfig | None = None,
        warehouse: WarehouseSettings = QUIET_WAREHOUSE,
        policy: AccountPolicy | None = None,
        start: bool = True,
        queue_options: dict[str, Any] | None = None,
        wrap_vtex: Callable[[Any], Any] | None = None,
        database: str = "sqlite",
    ) -> Harness:
        receiver = Forward()
        app = create_app(sandbox or sandbox_config(), hook_transport=httpx2.ASGITransport(app=receiver))
        admin = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url=SANDBOX_URL)
        client = VtexClient(
            ACCOUNT,
            APP_KEY,
            APP_TOKEN,
            base_url=SANDBOX_URL,
            transport=httpx2.ASGITransport(app=wrap_vtex(app) if wrap_vtex else app),
            retry=RetryPolicy(base_delay_s=0.01, max_delay_s=0.05),
            observer=observe_vtex_call,
        )
        if database == "postgres":
            db = await stack.enter_async_context(fresh_postgres(postgres_url_or_skip()))
        else:
            db = Database(f"sqlite:///{tmp_path / f'orderbridge-{len(made)}.db'}")
            await db.migrate()
        erp = SimulatedWarehouse(tmp_path / f"warehouse-{len(made)}.db", warehouse)
        options = {"retry_base_s": 0.02, "retry_max_s": 0.3, "poll_interval_s": 0.02, **(queue_options or {})}
        pipeline = Pipeline(
            db,
            {ACCOUNT: client},
            erp,
            {ACCOUNT: policy or AccountPolicy(ACCOUNT, pollers=2)},
            timing=FAST_TIMING,
            workers=16,
            reconcile_interval_s=3600,
            queue_options=options,
        )
        receiver.target = create_api(pipeline)
        harness = Harness(app, admin, client, db, erp, pipeline, receiver.target)
        made.append(harness)
        if start:
            await harness.start()
        return harness

    yield make
    for harness in made:
        with contextlib.suppress(Exception):
            await harness.shutdown()
        await harness.client.aclose()
        await harness.admin.aclose()
        await harness.db.dispose()
    await stack.aclose()


def postgres_url_or_skip() -> str:
    """The throwaway cluster `make test` starts; outside CI a missing one skips, in CI it fails."""
    url = os.environ.get("ORDERBRIDGE_TEST_PG_URL")
    if url:
        return url
    if os.environ.get("CI"):
        pytest.fail("ORDERBRIDGE_TEST_PG_URL is not set in CI: `make test` starts PostgreSQL and sets it")
    pytest.skip("ORDERBRIDGE_TEST_PG_URL not set (run `make test`, or `. .pg/env`)")


async def debug_dump(harness: Harness) -> str:
    """What the pipeline believes, for failure messages."""
    from orderbridge.pipeline import operators

    lines = [repr(harness.warehouse.summary())]
    for row in await operators.list_orders(harness.db, limit=500):
        if row["pipeline_state"] not in ("completed", "canceled"):
            shown = await operators.show_order(harness.db, row["account"], row["order_id"])
            if shown is not None:
                shown["attempts"] = shown["attempts"][-5:]
                shown["order"].pop("snapshot", None)
            lines.append(repr(shown))
    return "\n".join(lines)
