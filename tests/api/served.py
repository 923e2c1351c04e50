"""orderbridge served for real on 127.0.0.1: its own thread and event loop running the sandbox, the
pipeline (simulated warehouse, accept-only) and uvicorn with the hook router and the REST router —
for clients that are synchronous (schemathesis) or that must go over a real socket."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn

from erp_adapters.harness import eventually, running_pipeline
from orderbridge.api.app import create_api
from orderbridge.erp.warehouse import SimulatedWarehouse, WarehouseSettings
from orderbridge.sandbox.testing import free_port


@dataclass
class Served:
    base_url: str
    order_ids: list[str] = field(default_factory=list)
    command_ids: list[str] = field(default_factory=list)


async def _serve(
    tmp: Path, token: str, orders: int, served: Served, ready: threading.Event, stop: asyncio.Event
) -> None:
    warehouse = SimulatedWarehouse(tmp / "warehouse.db", WarehouseSettings(fulfil=False, self_cancel_ratio=0))
    async with running_pipeline(tmp, warehouse) as h:
        app = create_api(h.pipeline, [token])  # mounted exactly as the service mounts it
        port = int(served.base_url.rsplit(":", 1)[1])
        server = uvicorn.Server(
            uvicorn.Config(
                app, host="127.0.0.1", port=port, access_log=False, log_level="warning", lifespan="off"
            )
        )
        serving = asyncio.create_task(server.serve())
        served.order_ids.extend(await h.new_orders(orders))

        async def handled() -> bool:
            rows = [await h.order_row(o) for o in served.order_ids]
            return all(r is not None and r.pipeline_state == "handling" for r in rows)

        await eventually(handled, what="the served orders in handling")
        await eventually(lambda: _started(server), what="uvicorn listening")
        ready.set()
        await stop.wait()
        server.should_exit = True
        await serving


async def _started(server: uvicorn.Server) -> bool:
    return server.started


@contextmanager
def served_orderbridge(tmp: Path, token: str, orders: int = 2) -> Iterator[Served]:
    served = Served(base_url=f"http://127.0.0.1:{free_port()}")
    ready = threading.Event()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(_serve(tmp, token, orders, served, ready, stop))
        except BaseException as exc:  # reported to the test thread
            failure.append(exc)
            ready.set()

    thread = threading.Thread(target=run, name="served-orderbridge", daemon=True)
    thread.start()
    if not ready.wait(timeout=60) or failure:
        raise RuntimeError(f"orderbridge did not start: {failure}")
    try:
        yield served
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=30)
        loop.close()
