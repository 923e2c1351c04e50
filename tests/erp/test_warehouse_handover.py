"""The warehouse as the ERP side of moment 1: handovers, duplicates, rejections, plans by seed."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from warehouse_fakes import FakeSink, make_snapshot

from loop_ticks import counting_ticks
from orderbridge.core.orders import OrderItem, OrderSnapshot
from orderbridge.erp.errors import ErpUnavailable
from orderbridge.erp.port import Accepted, ErpAdapter, HandoverOrder, Rejected, SupportsLookup
from orderbridge.erp.warehouse import (
    SimulatedWarehouse,
    WarehouseSettings,
    database_path,
    ledger,
    read_handover_counts,
    read_summary,
)
from orderbridge.erp.warehouse.plans import draw_plan


def handover(order_id: str, account: str = "shop") -> HandoverOrder:
    return HandoverOrder(account=account, order_id=order_id, snapshot=make_snapshot(order_id), document={})


async def test_every_handover_is_recorded_including_duplicates(tmp_path: Path) -> None:
    warehouse = SimulatedWarehouse(tmp_path / "wh.db", autorun=False)
    await warehouse.start(FakeSink())
    first = await warehouse.hand_over(handover("A-01"))
    again = await warehouse.hand_over(handover("A-01"))
    await warehouse.hand_over(handover("B-01"))
    await warehouse.hand_over(handover("A-01", account="other"))
    await warehouse.stop()

    assert isinstance(first, Accepted) and first == again
    assert warehouse.handover_counts() == {("shop", "A-01"): 2, ("shop", "B-01"): 1, ("other", "A-01"): 1}
    summary = warehouse.summary()
    assert (summary.distinct, summary.total) == (3, 4)
    assert summary.duplicated_ids == (("shop", "A-01"),)


async def test_a_lookup_answers_the_stored_decision_without_logging_a_handover(tmp_path: Path) -> None:
    warehouse = SimulatedWarehouse(tmp_path / "wh.db", autorun=False)
    await warehouse.start(FakeSink())
    assert isinstance(warehouse, SupportsLookup)
    assert await warehouse.lookup("shop", "A-01") is None
    accepted = await warehouse.hand_over(handover("A-01"))
    assert await warehouse.lookup("shop", "A-01") == accepted
    await warehouse.stop()
    assert warehouse.handover_counts() == {("shop", "A-01"): 1}


async def test_the_handover_log_is_readable_from_the_file_by_another_reader(tmp_path: Path) -> None:
    path = tmp_path / "wh.db"
    warehouse = SimulatedWarehouse(f"sqlite:///{path}", autorun=False)
    await warehouse.start(FakeSink())
    await warehouse.hand_over(handover("A-01"))
    # still running: a second process (the demo, a crash test) reads the same WAL file
    assert read_handover_counts(path) == {("shop", "A-01"): 1}
    assert read_summary(path).to_dict()["distinct"] == 1
    await warehouse.stop()


async def test_a_rejected_order_gets_the_same_reason_on_every_handover(tmp_path: Path) -> None:
    warehouse = SimulatedWarehouse(tmp_path / "wh.db", WarehouseSettings(reject_ratio=1.0), autorun=False)
    await warehouse.start(FakeSink())
    results = [await warehouse.hand_over(handover("A-01")) for _ in range(2)]
    await warehouse.stop()

    assert all(isinstance(r, Rejected) and "credit hold" in r.reason for r in results)
    assert results[0] == results[1]
    summary = warehouse.summary()
    assert (summary.accepted, summary.rejected, summary.total) == (0, 1, 2)


def test_plans_are_the_same_for_the_same_seed_and_differ_across_seeds() -> None:
    settings = WarehouseSettings(
        seed=7, out_of_stock_ratio=0.3, partial_invoice_ratio=0.3, self_cancel_ratio=0.1
    )
    ids = [f"{n:05d}-01" for n in range(200)]
    plans = [draw_plan(make_snapshot(i), settings, "shop", n) for n, i in enumerate(ids)]
    again = [draw_plan(make_snapshot(i), settings, "shop", n) for n, i in enumerate(ids)]
    other = [
        draw_plan(make_snapshot(i), settings.model_copy(update={"seed": 8}), "shop", n)
        for n, i in enumerate(ids)
    ]

    assert plans == again
    assert plans != other
    kinds = [tuple(step.kind for step in plan.steps) for plan in plans]
    assert any("change" in k for k in kinds) and any(k == ("cancel",) for k in kinds)
    assert any(k.count("invoice") == 2 for k in kinds) and any(k.count("invoice") == 1 for k in kinds)


def test_ratios_are_respected_roughly_over_many_orders() -> None:
    settings = WarehouseSettings(reject_ratio=0.25, self_cancel_ratio=0.0)
    plans = [draw_plan(make_snapshot(f"{n}-01"), settings, "shop", n) for n in range(1000)]
    rejected = sum(not plan.accept for plan in plans)
    assert 180 <= rejected <= 320


def test_a_single_unit_order_gets_neither_a_change_nor_a_partial_invoice() -> None:
    one_unit = OrderSnapshot(
        order_id="X-01",
        status="handling",
        value_cents=1000,
        items=(OrderItem(index=0, sku_id="s", name="n", quantity=1, unit_price_cents=1000),),
    )
    settings = WarehouseSettings(out_of_stock_ratio=1.0, partial_invoice_ratio=1.0, self_cancel_ratio=0.0)
    plan = draw_plan(one_unit, settings, "shop", 1)
    assert [step.kind for step in plan.steps][:2] == ["invoice", "tracking_number"]
    assert sum(step.kind == "invoice" for step in plan.steps) == 1


def test_an_order_that_lost_a_unit_is_invoiced_once() -> None:
    settings = WarehouseSettings(out_of_stock_ratio=1.0, partial_invoice_ratio=1.0, self_cancel_ratio=0.0)
    kinds = [step.kind for step in draw_plan(make_snapshot("A-01"), settings, "shop", 1).steps]
    assert kinds[:3] == ["change", "invoice", "tracking_number"]
    assert kinds.count("invoice") == 1


def test_invoice_numbers_are_routable_and_unique_per_invoice() -> None:
    settings = WarehouseSettings(partial_invoice_ratio=1.0, self_cancel_ratio=0.0, out_of_stock_ratio=0.0)
    numbers = [
        step.invoice_number
        for n in range(50)
        for step in draw_plan(make_snapshot(f"{n}-01"), settings, "shop", n + 1).steps
        if step.kind == "invoice"
    ]
    assert len(numbers) == len(set(numbers)) == 100
    assert all(number.replace("-", "").isalnum() and number.isascii() for number in numbers)


def test_the_warehouse_is_an_erp_adapter(tmp_path: Path) -> None:
    assert isinstance(SimulatedWarehouse(tmp_path / "wh.db"), ErpAdapter)


def test_the_warehouse_needs_a_file_and_accepts_sqlite_urls(tmp_path: Path) -> None:
    assert database_path(f"sqlite+aiosqlite:///{tmp_path}/w.db") == tmp_path / "w.db"
    with pytest.raises(ValueError, match="needs a database file"):
        database_path(":memory:")


async def test_an_unusable_database_is_reported_as_erp_unavailable(tmp_path: Path) -> None:
    warehouse = SimulatedWarehouse(tmp_path, autorun=False)  # a directory, not a file
    with pytest.raises(ErpUnavailable):
        await warehouse.hand_over(handover("A-01"))
    await warehouse.stop()


class _SecondCommitFails:
    """A warehouse connection whose second COMMIT (the first is `start`'s) fails, as on a full disk."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn, self.commits = conn, 0

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if sql == "COMMIT":
            self.commits += 1
            if self.commits == 2:
                raise sqlite3.OperationalError("disk I/O error")
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


async def test_after_a_failed_commit_the_next_handover_works_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_connect = ledger.connect
    monkeypatch.setattr(ledger, "connect", lambda path: _SecondCommitFails(real_connect(path)))
    warehouse = SimulatedWarehouse(tmp_path / "wh.db", autorun=False)
    await warehouse.start(FakeSink())
    try:
        with pytest.raises(ErpUnavailable):
            await warehouse.hand_over(handover("A-01"))
        assert isinstance(await warehouse.hand_over(handover("A-01")), Accepted)
    finally:
        await warehouse.stop()
    assert warehouse.handover_counts() == {("shop", "A-01"): 1}  # the failed one was rolled back


async def test_a_handover_waiting_for_another_processs_lock_does_not_block_the_event_loop(
    tmp_path: Path,
) -> None:
    warehouse = SimulatedWarehouse(tmp_path / "wh.db", autorun=False)
    await warehouse.start(FakeSink())
    other = sqlite3.connect(tmp_path / "wh.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process writing to the warehouse's file
    loop = asyncio.get_running_loop()
    loop.call_later(0.3, other.execute, "COMMIT")
    try:
        async with counting_ticks() as ticks, asyncio.timeout(10):
            result = await warehouse.hand_over(handover("A-01"))
    finally:
        other.close()
        await warehouse.stop()
    assert isinstance(result, Accepted)
    assert ticks.count >= 20  # the loop went on (and released the other lock) while the handover waited
    assert warehouse.handover_counts() == {("shop", "A-01"): 1}


async def test_a_call_that_comes_while_the_warehouse_stops_is_refused_as_unavailable_not_run(
    tmp_path: Path,
) -> None:
    """A pipeline job may still call the ERP while the process shuts down. Opening a new connection for it
    on a new thread, while `stop` closes the old one, crashed a full test run (SIGSEGV in sqlite3): such
    a call is a failure to retry, after the restart."""
    warehouse = SimulatedWarehouse(tmp_path / "wh.db", autorun=False)
    await warehouse.start(FakeSink())
    await warehouse.stop()

    with pytest.raises(ErpUnavailable, match="stopping"):
        await warehouse.hand_over(handover("A-01"))
    await warehouse.start(FakeSink())
    assert isinstance(await warehouse.hand_over(handover("A-01")), Accepted), "a restarted warehouse works"
    await warehouse.stop()
