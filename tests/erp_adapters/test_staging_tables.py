"""Staging tables end to end: the sandbox as VTEX, the real pipeline, and the ERP's own database
(a SQLite file and the PostgreSQL of ORDERBRIDGE_TEST_ERP_PG_URL) with rows written as an ERP would."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import create_async_engine

from orderbridge.core.decisions import PipelineState
from orderbridge.core.orders import OrderItem, OrderSnapshot
from orderbridge.erp import staging_schema as st
from orderbridge.erp.port import AcceptanceLater, HandoverOrder
from orderbridge.erp.staging import StagingConfig, StagingTablesErp
from orderbridge.erp.staging_schema import ddl

from .harness import ACCOUNT, Harness, eventually, running_pipeline

PG_URL = os.environ.get("ORDERBRIDGE_TEST_ERP_PG_URL")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def staging_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'erp.db'}"
        return
    if not PG_URL:
        if os.environ.get("CI"):
            pytest.fail("ORDERBRIDGE_TEST_ERP_PG_URL must be set in CI")
        pytest.skip("ORDERBRIDGE_TEST_ERP_PG_URL is not set (run through `make test`)")
    engine = create_async_engine(PG_URL)
    async with engine.begin() as conn:
        await conn.run_sync(st.METADATA.drop_all)
    await engine.dispose()
    yield PG_URL


@pytest.fixture
async def erp(staging_url: str) -> StagingTablesErp:
    # No default account: the adapter finds each order's account in ob_orders.
    adapter = StagingTablesErp(StagingConfig(url=staging_url, poll_interval_s=0.05))
    await adapter.create_tables()  # the ERP team runs the documented DDL before anything flows
    return adapter


class ErpSide:
    """What the ERP does: read the interface tables, write inbound rows (parent and children in one go)."""

    def __init__(self, adapter: StagingTablesErp) -> None:
        self.engine = adapter.engine

    async def rows(self, table: Table, **where: Any) -> list[dict[str, Any]]:
        query = select(table).filter_by(**where).order_by(*table.primary_key.columns)
        async with self.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(query)).mappings()]

    async def write(
        self, table: Table, values: dict[str, Any], children: Sequence[dict[str, Any]] = ()
    ) -> int:
        async with self.engine.begin() as conn:
            row_id = (await conn.execute(insert(table).values(values).returning(table.c.id))).scalar_one()
            for child in children:
                child_table, child_values = child["table"], child["values"]
                fk = next(c.name for c in child_table.c if c.foreign_keys)
                await conn.execute(insert(child_table).values({**child_values, fk: row_id}))
        return int(row_id)

    async def outcome(self, table: Table, row_id: int) -> dict[str, Any]:
        async def done() -> bool:
            return bool((await self.rows(table, id=row_id))[0]["status"] != "new")

        await eventually(done, what=f"{table.name} row {row_id} processed")
        return (await self.rows(table, id=row_id))[0]


async def _handed_over(h: Harness, erp_side: ErpSide, order_id: str) -> dict[str, Any]:
    async def present() -> bool:
        return bool(await erp_side.rows(st.ob_orders, order_id=order_id))

    await eventually(present, what=f"order {order_id} in ob_orders")
    return (await erp_side.rows(st.ob_orders, order_id=order_id))[0]


async def _state(h: Harness, order_id: str, state: str) -> None:
    async def reached() -> bool:
        row = await h.order_row(order_id)
        return row is not None and row.pipeline_state == state

    await eventually(reached, what=f"order {order_id} in pipeline state {state}")


def _invoice_rows(items: list[tuple[str, int, int]]) -> list[dict[str, Any]]:
    return [
        {"table": st.erp_invoice_items, "values": {"sku_id": s, "quantity": q, "unit_price_cents": p}}
        for s, q, p in items
    ]


async def test_orders_go_out_to_the_tables_and_acceptance_invoice_and_tracking_come_back(
    tmp_path: Path, erp: StagingTablesErp
) -> None:
    async with running_pipeline(tmp_path, erp) as h:
        erp_side = ErpSide(erp)
        [order_id] = await h.new_orders(1)
        order = await _handed_over(h, erp_side, order_id)
        snapshot = json.loads(order["snapshot_json"])
        items = await erp_side.rows(st.ob_order_items, order_id=order_id)
        assert [i["sku_id"] for i in items] == [i["sku_id"] for i in snapshot["items"]]
        assert order["value_cents"] == snapshot["value_cents"]
        assert await erp_side.rows(st.ob_order_addresses, order_id=order_id)
        await _state(h, order_id, PipelineState.AWAITING_ERP.value)

        acceptance = await erp_side.write(
            st.erp_acceptances, {"order_id": order_id, "accepted": True, "erp_reference": "SO-77"}
        )
        assert (await erp_side.outcome(st.erp_acceptances, acceptance))["status"] == "processed"
        await _state(h, order_id, PipelineState.HANDLING.value)
        assert (await h.stats())["start_handling"][order_id] == 1

        lines = [(i["sku_id"], i["quantity"], i["unit_price_cents"]) for i in items]
        invoice = await erp_side.write(
            st.erp_invoices,
            {
                "order_id": order_id,
                "invoice_number": "NF-1001",
                "invoice_value_cents": order["value_cents"],
                "issuance_date": "2026-11-27T10:00:00Z",
            },
            _invoice_rows(lines),
        )
        row = await erp_side.outcome(st.erp_invoices, invoice)
        assert row["status"] == "processed", row["error"]
        assert row["command_id"]

        async def invoiced() -> bool:
            return bool((await h.stats())["invoices"].get(order_id, {}).get("packages") == 1)

        await eventually(invoiced, what="the invoice at VTEX")
        tracking = await erp_side.write(
            st.erp_tracking_numbers,
            {
                "order_id": order_id,
                "invoice_number": "NF-1001",
                "tracking_number": "TRK1",
                "courier": "Correios",
            },
        )
        assert (await erp_side.outcome(st.erp_tracking_numbers, tracking))["status"] == "processed"

        async def tracked() -> bool:
            packages = (await h.vtex_order(order_id)).get("packageAttachment", {}).get("packages", [])
            return bool(packages) and packages[0].get("trackingNumber") == "TRK1"

        await eventually(tracked, what="the tracking number at VTEX")
        update = await erp_side.write(
            st.erp_tracking_updates,
            {
                "order_id": order_id,
                "invoice_number": "NF-1001",
                "is_delivered": True,
                "delivered_date": "2026-11-28T10:00:00Z",
            },
            [
                {
                    "table": st.erp_tracking_update_events,
                    "values": {
                        "city": "Rio",
                        "state": "RJ",
                        "description": "Delivered",
                        "event_date": "2026-11-28T10:00:00Z",
                    },
                }
            ],
        )
        assert (await erp_side.outcome(st.erp_tracking_updates, update))["status"] == "processed"
        assert (await h.stats())["invoices"][order_id]["posts"] == 1


async def test_a_rejected_row_says_why_in_the_row_and_nothing_reaches_vtex(
    tmp_path: Path, erp: StagingTablesErp
) -> None:
    async with running_pipeline(tmp_path, erp) as h:
        erp_side = ErpSide(erp)
        [order_id] = await h.new_orders(1)
        order = await _handed_over(h, erp_side, order_id)
        await erp_side.write(st.erp_acceptances, {"order_id": order_id, "accepted": True})
        await _state(h, order_id, PipelineState.HANDLING.value)
        items = await erp_side.rows(st.ob_order_items, order_id=order_id)
        await h.settled()
        calls_before = await h.vtex_calls()
        over = await erp_side.write(
            st.erp_invoices,
            {
                "order_id": order_id,
                "invoice_number": "NF/1",
                "invoice_value_cents": order["value_cents"] + 1,
                "issuance_date": "2026-11-27T10:00:00Z",
            },
            _invoice_rows([(items[0]["sku_id"], items[0]["quantity"], items[0]["unit_price_cents"])]),
        )
        unknown = await erp_side.write(
            st.erp_cancellations, {"order_id": "999-01", "decision": "cancel", "reason": "x"}
        )
        bad_decision = await erp_side.write(st.erp_cancellations, {"order_id": order_id, "decision": "maybe"})
        rejected = [
            await erp_side.outcome(st.erp_invoices, over),
            await erp_side.outcome(st.erp_cancellations, unknown),
            await erp_side.outcome(st.erp_cancellations, bad_decision),
        ]
        assert [r["status"] for r in rejected] == ["rejected"] * 3
        # The row names the columns the ERP wrote, not orderbridge's wire or internal names.
        assert "invoice_number: 'NF/1' contains" in rejected[0]["error"], rejected[0]["error"]
        assert "invoice_value_cents: " in rejected[0]["error"] and "invoiceValue" not in rejected[0]["error"]
        assert "not known to orderbridge" in rejected[1]["error"]
        assert "unknown_command" in rejected[2]["error"]
        assert await h.vtex_calls() == calls_before


def test_the_documented_ddl_is_the_one_the_adapter_creates() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "erp-staging-tables.md").read_text()
    for dialect in ("sqlite", "postgresql"):
        assert ddl(dialect).strip() in doc, f"docs/erp-staging-tables.md is stale for {dialect}"


async def test_a_repeated_handover_updates_one_row_and_notices_are_written_once(
    erp: StagingTablesErp,
) -> None:
    order = HandoverOrder(
        ACCOUNT,
        "77-01",
        OrderSnapshot("77-01", "ready-for-handling", 500, items=(OrderItem(0, "sku-1", "Cup", 1, 500),)),
        {"orderId": "77-01", "shippingData": {"address": {"city": "Rio", "postalCode": "20000"}}},
    )
    erp_side = ErpSide(erp)
    assert isinstance(await erp.hand_over(order), AcceptanceLater)
    assert isinstance(await erp.hand_over(order), AcceptanceLater)
    [row] = await erp_side.rows(st.ob_orders, order_id="77-01")
    assert row["delivery_count"] == 2
    assert len(await erp_side.rows(st.ob_order_items, order_id="77-01")) == 1
    [address] = await erp_side.rows(st.ob_order_addresses, order_id="77-01")
    assert address["city"] == "Rio"
    await erp.notify_canceled(ACCOUNT, "77-01", "customer")
    await erp.notify_canceled(ACCOUNT, "77-01", "customer")
    assert await erp.request_cancellation(ACCOUNT, "77-01", "req-9", "changed mind") is None
    notices = await erp_side.rows(st.ob_cancellation_notices, order_id="77-01")
    assert [(n["kind"], n["request_id"]) for n in notices] == [
        ("canceled", ""),
        ("cancellation-requested", "req-9"),
    ]
    await erp.engine.dispose()


async def test_a_shoppers_cancellation_request_is_denied_through_the_tables(
    tmp_path: Path, erp: StagingTablesErp
) -> None:
    async with running_pipeline(tmp_path, erp) as h:
        erp_side = ErpSide(erp)
        [order_id] = await h.new_orders(1)
        await _handed_over(h, erp_side, order_id)
        await _state(h, order_id, PipelineState.AWAITING_ERP.value)
        await erp_side.write(st.erp_acceptances, {"order_id": order_id, "accepted": True})
        await _state(h, order_id, PipelineState.HANDLING.value)
        (await h.admin.post(f"/_sandbox/orders/{order_id}/customer-cancel")).raise_for_status()

        async def noticed() -> bool:
            return bool(await erp_side.rows(st.ob_cancellation_notices, order_id=order_id))

        await eventually(noticed, what="the cancellation request in ob_cancellation_notices")
        [notice] = await erp_side.rows(st.ob_cancellation_notices, order_id=order_id)
        assert notice["kind"] == "cancellation-requested"
        denial = await erp_side.write(
            st.erp_cancellations,
            {
                "order_id": order_id,
                "decision": "deny",
                "reason": "already shipped",
                "cancellation_request_id": notice["request_id"] or None,
            },
        )
        row = await erp_side.outcome(st.erp_cancellations, denial)
        assert row["status"] == "processed", row["error"]

        async def back_in_handling() -> bool:
            return bool((await h.vtex_order(order_id))["status"] == "handling")

        await eventually(back_in_handling, what="VTEX to show the order back in handling")


async def test_a_row_repeating_an_accepted_invoice_or_acceptance_is_processed_as_the_first_one(
    tmp_path: Path, erp: StagingTablesErp
) -> None:
    async with running_pipeline(tmp_path, erp) as h:
        erp_side = ErpSide(erp)
        [order_id] = await h.new_orders(1)
        order = await _handed_over(h, erp_side, order_id)
        accept = {"order_id": order_id, "accepted": True, "erp_reference": "SO-5"}
        first_acceptance = await erp_side.write(st.erp_acceptances, accept)
        assert (await erp_side.outcome(st.erp_acceptances, first_acceptance))["status"] == "processed"
        await _state(h, order_id, PipelineState.HANDLING.value)
        items = await erp_side.rows(st.ob_order_items, order_id=order_id)
        lines = [(i["sku_id"], i["quantity"], i["unit_price_cents"]) for i in items]
        invoice = {
            "order_id": order_id,
            "invoice_number": "NF-5",
            "invoice_value_cents": order["value_cents"],
            "issuance_date": "2026-11-27T10:00:00Z",
        }

        rows = [
            await erp_side.write(st.erp_invoices, invoice, _invoice_rows(lines)),
            await erp_side.write(st.erp_invoices, invoice, _invoice_rows(lines)),  # the ERP's job ran twice
            await erp_side.write(
                st.erp_invoices,
                {**invoice, "invoice_value_cents": order["value_cents"] - 1},
                _invoice_rows(lines),
            ),
        ]
        again_acceptance = await erp_side.write(st.erp_acceptances, accept)
        other_acceptance = await erp_side.write(st.erp_acceptances, {**accept, "erp_reference": "SO-6"})

        first, again, other = [await erp_side.outcome(st.erp_invoices, row) for row in rows]
        assert first["status"] == again["status"] == "processed", again["error"]
        assert again["command_id"] == first["command_id"]
        assert other["status"] == "rejected" and "invoice_number_reused" in other["error"]
        assert (await erp_side.outcome(st.erp_acceptances, again_acceptance))["status"] == "processed"
        refused = await erp_side.outcome(st.erp_acceptances, other_acceptance)
        assert refused["status"] == "rejected" and "decision_already_recorded" in refused["error"]

        async def invoiced() -> bool:
            return bool((await h.stats())["invoices"].get(order_id, {}).get("packages") == 1)

        await eventually(invoiced, what="the invoice at VTEX")
        assert (await h.stats())["invoices"][order_id]["posts"] == 1
