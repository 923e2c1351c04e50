"""The files adapter end to end: real temp folders, the real pipeline, the sandbox as VTEX."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from orderbridge.core.decisions import PipelineState
from orderbridge.erp.files import FilesConfig, FilesErp, write_atomically

from .harness import ACCOUNT, Harness, eventually, running_pipeline


def drop(inbox: Path, name: str, content: str | dict[str, Any] | list[dict[str, Any]]) -> Path:
    """As an ERP should: write under a dot-name, then rename into the inbox."""
    text = content if isinstance(content, str) else json.dumps(content)
    temp = inbox / f".{name}.partial"
    temp.write_text(text)
    os.replace(temp, inbox / name)
    return inbox / name


async def filed(inbox: Path, name: str) -> str:
    async def moved() -> bool:
        return (inbox / "done" / name).exists() or (inbox / "error" / name).exists()

    await eventually(moved, what=f"{name} moved to done/ or error/")
    return "done" if (inbox / "done" / name).exists() else "error"


async def _state(h: Harness, order_id: str, state: str) -> None:
    async def reached() -> bool:
        row = await h.order_row(order_id)
        return row is not None and row.pipeline_state == state

    await eventually(reached, what=f"{order_id} in state {state}")


async def _order_file(outbox: Path, order_id: str) -> dict[str, Any]:
    path = outbox / f"{ACCOUNT}__{order_id}.order.json"

    async def written() -> bool:
        return path.exists()

    await eventually(written, what=f"{path.name} in the outbox")
    document: dict[str, Any] = json.loads(path.read_text())
    return document


async def test_orders_go_out_as_files_and_acceptance_invoice_csv_and_tracking_come_back(
    tmp_path: Path,
) -> None:
    # No default account: the adapter finds each order's account in the outbox.
    config = FilesConfig(root=tmp_path / "erp", poll_interval_s=0.05)
    async with running_pipeline(tmp_path, FilesErp(config)) as h:
        [order_id] = await h.new_orders(1)
        document = await _order_file(config.outbox, order_id)
        order = document["order"]
        assert document["raw"]["orderId"] == order_id
        assert not [p for p in config.outbox.iterdir() if p.name.startswith(".")]  # no leftovers

        drop(
            config.inbox,
            "accept-1.json",
            {"command": "acceptance", "orderId": order_id, "accepted": True, "erpReference": "SO-1"},
        )
        assert await filed(config.inbox, "accept-1.json") == "done"
        await _state(h, order_id, PipelineState.HANDLING.value)

        rows = "\n".join(
            f"{order_id},NF-77,{order['value_cents']},2026-11-27T10:00:00Z,{i['sku_id']},{i['quantity']},"
            f"{i['unit_price_cents']}"
            for i in order["items"]
        )
        drop(
            config.inbox,
            "invoices-1.csv",
            "order_id,invoice_number,invoice_value,issuance_date,sku_id,quantity,unit_price\n" + rows + "\n",
        )
        assert await filed(config.inbox, "invoices-1.csv") == "done"
        result = json.loads((config.inbox / "done" / "invoices-1.csv.result.json").read_text())
        assert "command" in result["accepted"][0]

        async def invoiced() -> bool:
            return bool((await h.stats())["invoices"].get(order_id, {}).get("packages") == 1)

        await eventually(invoiced, what="the invoice at VTEX")
        drop(
            config.inbox,
            "tracking-1.csv",
            f"order_id,invoice_number,tracking_number,courier\n{order_id},NF-77,TRK-9,Correios\n",
        )
        assert await filed(config.inbox, "tracking-1.csv") == "done"

        async def tracked() -> bool:
            packages = (await h.vtex_order(order_id)).get("packageAttachment", {}).get("packages", [])
            return bool(packages) and packages[0].get("trackingNumber") == "TRK-9"

        await eventually(tracked, what="the tracking number at VTEX")
        drop(
            config.inbox,
            "events-1.json",
            {
                "command": "tracking-events",
                "orderId": order_id,
                "invoiceNumber": "NF-77",
                "isDelivered": True,
                "events": [],
            },
        )
        assert await filed(config.inbox, "events-1.json") == "done"
        assert (await h.stats())["invoices"][order_id]["posts"] == 1


async def test_a_rejected_file_moves_to_error_with_the_reason_beside_it_and_nothing_reaches_vtex(
    tmp_path: Path,
) -> None:
    config = FilesConfig(root=tmp_path / "erp", account=ACCOUNT, poll_interval_s=0.05)
    async with running_pipeline(tmp_path, FilesErp(config)) as h:
        [order_id] = await h.new_orders(1)
        order = (await _order_file(config.outbox, order_id))["order"]
        await h.settled()
        before = await h.vtex_calls()
        sku = order["items"][0]["sku_id"]
        drop(config.inbox, "broken.json", '{"command": "invoice", ')
        drop(config.inbox, "unknown.json", {"command": "cancellation", "orderId": "404-01", "reason": "x"})
        drop(
            config.inbox,
            "over.csv",
            "order_id,invoice_number,invoice_value,issuance_date,sku_id,quantity,unit_price\n"
            f"{order_id},NF 1 ,{order['value_cents'] + 1},2026-11-27T10:00:00Z,{sku},1,1\n",
        )
        reasons = {}
        for name in ("broken.json", "unknown.json", "over.csv"):
            assert await filed(config.inbox, name) == "error"
            reasons[name] = (config.inbox / "error" / f"{name}.error.txt").read_text()
        assert "malformed JSON" in reasons["broken.json"]
        assert "not known to orderbridge" in reasons["unknown.json"]
        # The not-yet-handling order is refused too, naming the CSV's rows and columns as written.
        assert "row 2.invoice_number: 'NF 1 ' contains whitespace" in reasons["over.csv"]
        assert "row 2.invoice_value: " in reasons["over.csv"] and "Value" not in reasons["over.csv"]
        assert await h.vtex_calls() == before


def test_atomic_writes_leave_no_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    write_atomically(target, b"{}")
    write_atomically(target, b'{"again": true}')
    assert json.loads(target.read_text()) == {"again": True}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


async def test_outbox_and_inbox_may_live_in_separate_folders(tmp_path: Path) -> None:
    config = FilesConfig(
        root=tmp_path, outbox_dir=tmp_path / "to-erp", inbox_dir=tmp_path / "from-erp" / "in"
    )
    FilesErp(config)
    assert (tmp_path / "to-erp").is_dir()
    assert (tmp_path / "from-erp" / "in" / "done").is_dir() and (
        tmp_path / "from-erp" / "in" / "error"
    ).is_dir()


async def test_cancellation_notices_are_written_as_files(tmp_path: Path) -> None:
    adapter = FilesErp(FilesConfig(root=tmp_path))
    await adapter.notify_canceled(ACCOUNT, "9-01", "customer")
    assert await adapter.request_cancellation(ACCOUNT, "9-01", "req/1", None) is None
    names = sorted(p.name for p in (tmp_path / "outbox").iterdir())
    assert names == [
        f"{ACCOUNT}__9-01__canceled.json",
        f"{ACCOUNT}__9-01__cancellation-requested__req_1.json",
    ]
    assert json.loads((tmp_path / "outbox" / names[0]).read_text())["reason"] == "customer"


async def test_a_file_repeating_an_accepted_invoice_and_acceptance_is_done_with_the_first_command(
    tmp_path: Path,
) -> None:
    config = FilesConfig(root=tmp_path / "erp", poll_interval_s=0.05)
    async with running_pipeline(tmp_path, FilesErp(config)) as h:
        [order_id] = await h.new_orders(1)
        order = (await _order_file(config.outbox, order_id))["order"]
        acceptance = {"command": "acceptance", "orderId": order_id, "accepted": True, "erpReference": "SO-2"}
        drop(config.inbox, "accept-1.json", acceptance)
        assert await filed(config.inbox, "accept-1.json") == "done"
        await _state(h, order_id, PipelineState.HANDLING.value)
        invoice = {
            "command": "invoice",
            "orderId": order_id,
            "invoiceNumber": "NF-2",
            "invoiceValue": order["value_cents"],
            "issuanceDate": "2026-11-27T10:00:00Z",
            "items": [
                {"id": i["sku_id"], "quantity": i["quantity"], "price": i["unit_price_cents"]}
                for i in order["items"]
            ],
        }

        drop(config.inbox, "invoice-1.json", invoice)
        assert await filed(config.inbox, "invoice-1.json") == "done"
        drop(config.inbox, "invoice-1-resent.json", [invoice, acceptance])  # another name, same content
        assert await filed(config.inbox, "invoice-1-resent.json") == "done"

        first = json.loads((config.inbox / "done" / "invoice-1.json.result.json").read_text())["accepted"]
        again = json.loads((config.inbox / "done" / "invoice-1-resent.json.result.json").read_text())[
            "accepted"
        ]
        command_id = first[0].rsplit("command ", 1)[1]
        assert command_id in again[0] and "the same command as before" in again[0]
        assert "the same answer as before" in again[1]

        async def invoiced() -> bool:
            return bool((await h.stats())["invoices"].get(order_id, {}).get("packages") == 1)

        await eventually(invoiced, what="the invoice at VTEX")
        assert (await h.stats())["invoices"][order_id]["posts"] == 1
