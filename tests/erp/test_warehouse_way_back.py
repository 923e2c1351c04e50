"""The warehouse's step loop run by its caller (the pipeline runs it once per cluster): `start` leaves it
alone when `runs_own_loop` is False, `run_way_back` runs the steps until its stop, and a warehouse made
with `autorun=False` (steps driven by the test) runs none even there."""

from __future__ import annotations

import asyncio
from pathlib import Path

from warehouse_fakes import FakeSink, make_snapshot

from orderbridge.erp.port import HandoverOrder
from orderbridge.erp.warehouse import SimulatedWarehouse, WarehouseSettings

PROMPT = WarehouseSettings(
    self_cancel_ratio=0.0,
    out_of_stock_ratio=0.0,
    partial_invoice_ratio=0.0,
    first_step_delay_s=0.0,
    step_delay_s=0.0,
    idle_poll_s=0.02,
)


async def _handed_over(warehouse: SimulatedWarehouse, sink: FakeSink) -> None:
    warehouse.runs_own_loop = False
    await warehouse.start(sink)
    sink.add(make_snapshot("o1"))
    await warehouse.hand_over(HandoverOrder("shop", "o1", make_snapshot("o1"), {}))


async def test_a_caller_run_loop_takes_the_steps_only_while_it_runs(tmp_path: Path) -> None:
    sink, warehouse = FakeSink(), SimulatedWarehouse(tmp_path / "wh.db", PROMPT)
    await _handed_over(warehouse, sink)
    try:
        await asyncio.sleep(0.2)
        assert sink.commands("o1") == [], "start ran no loop of its own"

        stop = asyncio.Event()
        loop = asyncio.create_task(warehouse.run_way_back(stop))
        for _ in range(200):
            if sink.commands("o1"):
                break
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(loop, 5)

        assert sink.commands("o1"), "the caller's loop ran the order's first step"
    finally:
        await warehouse.stop()


async def test_a_warehouse_driven_by_hand_runs_no_step_in_its_callers_loop(tmp_path: Path) -> None:
    sink = FakeSink()
    warehouse = SimulatedWarehouse(tmp_path / "wh.db", PROMPT, autorun=False)
    await _handed_over(warehouse, sink)
    stop = asyncio.Event()
    loop = asyncio.create_task(warehouse.run_way_back(stop))
    try:
        await asyncio.sleep(0.2)
        assert sink.commands("o1") == []
    finally:
        stop.set()
        await asyncio.wait_for(loop, 5)
        await warehouse.stop()
