"""orderbridge served for a browser: the sandbox, the pipeline with a simulated warehouse and the API
(dashboard included) on 127.0.0.1, in a thread with its own event loop. The warehouse refuses the
first offer of the first `refused` orders, so they are parked until an operator retries them; the
retried offer is accepted and the order runs to completion. Used by the browser tests and by
`scripts/screenshots.py`."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

from erp_adapters.harness import eventually, running_pipeline
from orderbridge.api.app import create_api
from orderbridge.erp.port import HandoverOrder, HandoverResult, Rejected
from orderbridge.erp.warehouse import SimulatedWarehouse, WarehouseSettings
from orderbridge.metrics import observe_vtex_call
from orderbridge.pipeline import operators
from orderbridge.sandbox.testing import free_port

FAST = WarehouseSettings(
    first_step_delay_s=0.0,
    step_delay_s=0.05,
    retry_delay_s=0.05,
    self_cancel_ratio=0.0,
    out_of_stock_ratio=0.0,
    partial_invoice_ratio=0.0,
    tracking_events=1,
    idle_poll_s=0.05,
)


REQUESTS_PER_SECOND = 50


class RefusesFirstOffers:
    """Refuses the first offer of the first `count` orders it sees; every later offer goes through."""

    def __init__(self, warehouse: SimulatedWarehouse, count: int) -> None:
        self.hand_over_to_warehouse = warehouse.hand_over
        self.count = count
        self.refused: set[str] = set()

    async def __call__(self, order: HandoverOrder) -> HandoverResult:
        order_id = order.order_id
        if len(self.refused) < self.count and order_id not in self.refused:
            self.refused.add(order_id)
            return Rejected("out of stock at the main warehouse (simulated refusal)")
        return await self.hand_over_to_warehouse(order)


@dataclass
class ServedConsole:
    base_url: str
    database_url: str
    token: str
    order_ids: list[str] = field(default_factory=list)


async def _serve(
    tmp: Path, served: ServedConsole, orders: int, refused: int, ready: threading.Event, stop: asyncio.Event
) -> None:
    warehouse = SimulatedWarehouse(tmp / "warehouse.db", FAST)
    warehouse.hand_over = RefusesFirstOffers(warehouse, refused)  # type: ignore[method-assign]
    # A client-side limit, as production accounts have one: the overview shows the calls against it.
    async with running_pipeline(tmp, warehouse, requests_per_second=REQUESTS_PER_SECOND) as h:
        for client in h.pipeline.deps.clients.values():  # as `orderbridge run` does: metrics see the calls
            client.add_observer(observe_vtex_call)
        app = create_api(h.pipeline, [served.token])
        port = int(served.base_url.rsplit(":", 1)[1])
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, access_log=False, log_level="warning", lifespan="off"
        )
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve())
        served.order_ids.extend(await h.new_orders(orders))

        async def settled() -> bool:
            status = (await operators.status(h.db))["accounts"]
            states: dict[str, Any] = next(iter(status.values()), {}).get("orders", {})
            return states.get("parked", 0) == refused and states.get("completed", 0) == orders - refused

        await eventually(settled, timeout_s=60, what="the served orders completed or parked")
        await eventually(_started(server), what="uvicorn listening")
        ready.set()
        await stop.wait()
        server.should_exit = True
        await serving


def _started(server: uvicorn.Server) -> Any:
    async def check() -> bool:
        return bool(server.started)

    return check


@contextmanager
def served_console(tmp: Path, token: str, orders: int = 5, refused: int = 3) -> Iterator[ServedConsole]:
    served = ServedConsole(
        base_url=f"http://127.0.0.1:{free_port()}",
        database_url=f"sqlite:///{tmp / 'orderbridge.db'}",
        token=token,
    )
    ready = threading.Event()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(_serve(tmp, served, orders, refused, ready, stop))
        except BaseException as exc:  # reported to the caller's thread
            failure.append(exc)
            ready.set()

    thread = threading.Thread(target=run, name="served-console", daemon=True)
    thread.start()
    if not ready.wait(timeout=90) or failure:
        raise RuntimeError(f"orderbridge did not start: {failure}")
    try:
        yield served
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=30)
        loop.close()
