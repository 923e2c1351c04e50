"""The catalog of invalid commands, each sent through every channel it applies to (REST API, files,
staging tables) against the real pipeline: each is refused with its reason, and VTEX sees no call."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest
import pytest_asyncio
from sqlalchemy import insert, select

from orderbridge.api.app import create_api
from orderbridge.core.commands import InvoiceCommand, InvoiceLine
from orderbridge.core.decisions import PipelineState
from orderbridge.erp import staging_schema as st
from orderbridge.erp.files import FilesConfig, FilesErp
from orderbridge.erp.staging import StagingConfig, StagingTablesErp
from orderbridge.erp.warehouse import SimulatedWarehouse, WarehouseSettings

from .catalog import B_INVOICE, CASES, DATE, FILES, REST, STAGING, Case, Orders
from .harness import ACCOUNT, Harness, eventually, running_pipeline

pytestmark = pytest.mark.asyncio(loop_scope="module")
TOKEN = "catalog-api-token-0123456789"
UNKNOWN_ORDER = "404404404-01"


@dataclass
class Env:
    h: Harness
    orders: Orders
    ids: dict[str, str]
    api: httpx2.AsyncClient
    files: FilesErp
    files_config: FilesConfig
    staging: StagingTablesErp


async def _reach(h: Harness, order_id: str, state: str) -> None:
    async def reached() -> bool:
        row = await h.order_row(order_id)
        return row is not None and row.pipeline_state == state

    await eventually(reached, what=f"{order_id} in {state}")


async def _partially_invoice(h: Harness, order_ids: list[str]) -> str:
    """Order B: one partial invoice landed at VTEX (an order whose first unit is worth less than it)."""
    for order_id in order_ids:
        snapshot = await h.snapshot(order_id)
        item = snapshot.items[0]
        if item.unit_price_cents < snapshot.value_cents:
            command = InvoiceCommand(
                B_INVOICE, item.unit_price_cents, DATE, (InvoiceLine(item.sku_id, 1, item.unit_price_cents),)
            )
            outcome = await h.sink.submit(ACCOUNT, order_id, command, channel="test")
            assert outcome.accepted, outcome.problems

            async def landed(order_id: str = order_id) -> bool:
                return (await h.snapshot(order_id)).package(B_INVOICE) is not None

            await eventually(landed, what="order B's partial invoice on the snapshot")
            return order_id
    raise AssertionError("no generated order can be partially invoiced")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    tmp = tmp_path_factory.mktemp("catalog")
    warehouse = SimulatedWarehouse(tmp / "warehouse.db", WarehouseSettings(fulfil=False, self_cancel_ratio=0))
    async with running_pipeline(tmp, warehouse) as h:
        ids = await h.new_orders(3)
        for order_id in ids:
            await _reach(h, order_id, PipelineState.HANDLING.value)
        b = await _partially_invoice(h, ids[1:])
        a = ids[0]
        files_config = FilesConfig(root=tmp / "files", account=ACCOUNT, poll_interval_s=0.05)
        files = FilesErp(files_config)
        staging = StagingTablesErp(
            StagingConfig(url=f"sqlite+aiosqlite:///{tmp / 'erp.db'}", account=ACCOUNT, poll_interval_s=0.05)
        )
        await files.start(h.sink)
        await staging.start(h.sink)
        app = create_api(h.pipeline, [TOKEN])  # mounted exactly as the service mounts it
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(
            transport=transport, base_url="http://orderbridge", headers={"Authorization": f"Bearer {TOKEN}"}
        ) as api:
            orders = Orders(a=await h.snapshot(a), b=await h.snapshot(b))
            yield Env(
                h, orders, {"A": a, "B": b, "unknown": UNKNOWN_ORDER}, api, files, files_config, staging
            )
        await files.stop()
        await staging.stop()


def _cases(channel: str) -> list[Any]:
    return [pytest.param(c, id=c.id) for c in CASES if channel in c.channels]


def _body(env: Env, case: Case) -> Any:
    return case.body(env.orders.of(case.order) if case.order != "unknown" else env.orders.a)


# --- REST ---

_ROUTES = {
    "invoice": ("POST", "/invoices"),
    "change": ("POST", "/changes"),
    "cancellation": ("POST", "/cancellation"),
    "cancellation-denial": ("POST", "/cancellation-request/deny"),
    "acceptance": ("POST", "/acceptance"),
    "tracking-number": ("PATCH", "/invoices/{n}"),
    "tracking-events": ("POST", "/invoices/{n}/tracking-events"),
}


def _sent_body(env: Env, case: Case) -> Any:
    """What the REST call carries in its body (a tracking command's invoice number goes in the path)."""
    body = _body(env, case)
    if "{n}" in _ROUTES[case.kind][1]:
        body = {k: v for k, v in body.items() if k != "invoiceNumber"}
    return body


async def _rest(env: Env, case: Case) -> tuple[int, dict[str, Any], str]:
    body = _sent_body(env, case)
    method, suffix = _ROUTES[case.kind]
    if "{n}" in suffix:
        suffix = suffix.format(n=_body(env, case)["invoiceNumber"])
    url = f"/api/v1/orders/{env.ids[case.order]}{suffix}"
    if isinstance(body, str):
        response = await env.api.request(
            method, url, content=body, headers={"Content-Type": "application/json"}
        )
    else:
        response = await env.api.request(method, url, json=body)
    return response.status_code, response.json(), response.headers["content-type"]


@pytest.mark.parametrize("case", _cases(REST))
async def test_the_rest_api_refuses_it_with_a_problem_naming_the_reason(env: Env, case: Case) -> None:
    await env.h.settled()
    before = await env.h.vtex_calls()
    status, problem, content_type = await _rest(env, case)
    assert status in (400, 404, 409, 422), problem
    assert content_type == "application/problem+json"
    assert case.expect in problem["detail"], problem["detail"]
    _assert_errors_point_into_the_request(problem, _sent_body(env, case))
    assert await env.h.vtex_calls() == before


def _assert_errors_point_into_the_request(problem: dict[str, Any], body: Any) -> None:
    """Each error names what the ERP sent: a JSON Pointer whose parent exists in the body it sent (the
    member itself may be the one missing), or a parameter of the URL; never an internal name."""
    for error in problem.get("errors", []):
        assert set(error) <= {"pointer", "parameter", "rule", "detail"}, error
        assert error["detail"] and error["rule"], error
        if "parameter" in error:
            assert error["parameter"] in ("invoiceNumber", "orderId", "account"), error
        if "pointer" not in error or error["pointer"] == "":
            continue
        pointer = error["pointer"]
        assert pointer.startswith("/") and "_" not in pointer, error
        node = body
        for token in pointer.split("/")[1:-1]:
            node = node[int(token)] if isinstance(node, list) else node[token]
        assert isinstance(node, (dict, list)), (error, body)


# --- files ---


async def test_every_rejected_file_lands_in_error_with_its_reason(env: Env) -> None:
    """All file cases dropped at once (the poller takes them in one sweep), then each is checked."""
    await env.h.settled()
    before = await env.h.vtex_calls()
    inbox = env.files_config.inbox
    cases = [c for c in CASES if FILES in c.channels]
    for case in cases:
        body = _body(env, case)
        if isinstance(body, str):
            text = body
        elif isinstance(body, dict):
            text = json.dumps({"command": case.kind, "orderId": env.ids[case.order], **body})
        else:
            text = json.dumps(body)
        temp = inbox / f".{case.id}.json.part"
        temp.write_text(text)
        os.replace(temp, inbox / f"{case.id}.json")

    async def all_filed() -> bool:
        return all(not (inbox / f"{c.id}.json").exists() for c in cases)

    await eventually(all_filed, what="every catalog file processed")
    failures = []
    for case in cases:
        report = inbox / "error" / f"{case.id}.json.error.txt"
        if not report.exists():
            failures.append(f"{case.id}: not in error/")
        elif case.expect not in report.read_text():
            failures.append(f"{case.id}: {report.read_text()!r} lacks {case.expect!r}")
    assert not failures, "\n".join(failures)
    assert not list((inbox / "done").iterdir())
    assert await env.h.vtex_calls() == before
    assert len(cases) >= 30


# --- staging tables ---

_SCALARS = {
    "invoice": (
        st.erp_invoices,
        {
            "invoiceNumber": "invoice_number",
            "invoiceValue": "invoice_value_cents",
            "issuanceDate": "issuance_date",
            "type": "invoice_type",
            "invoiceUrl": "invoice_url",
            "courier": "courier",
            "trackingNumber": "tracking_number",
            "trackingUrl": "tracking_url",
        },
    ),
    "tracking-number": (
        st.erp_tracking_numbers,
        {
            "invoiceNumber": "invoice_number",
            "trackingNumber": "tracking_number",
            "courier": "courier",
            "trackingUrl": "tracking_url",
        },
    ),
    "tracking-events": (
        st.erp_tracking_updates,
        {"invoiceNumber": "invoice_number", "isDelivered": "is_delivered"},
    ),
    "change": (st.erp_changes, {"reason": "reason", "discountValue": "discount_cents"}),
    "cancellation": (st.erp_cancellations, {"reason": "reason"}),
    "cancellation-denial": (st.erp_cancellations, {"reason": "reason"}),
    "acceptance": (
        st.erp_acceptances,
        {"accepted": "accepted", "erpReference": "erp_reference", "reason": "reason"},
    ),
}


async def _stage(env: Env, case: Case) -> tuple[Any, int]:
    """Write the case as an ERP would: a parent row and its child rows, in one transaction."""
    body = _body(env, case)
    table, columns = _SCALARS[case.kind]
    values: dict[str, Any] = {"order_id": env.ids[case.order]}
    values.update({column: body[key] for key, column in columns.items() if key in body})
    if case.kind == "cancellation":
        values["decision"] = "cancel"
    if case.kind == "cancellation-denial":
        values["decision"] = "deny"
    children: list[tuple[Any, dict[str, Any]]] = []
    for item in body.get("items", []):
        children.append(
            (
                st.erp_invoice_items,
                {
                    "sku_id": item.get("id"),
                    "quantity": item.get("quantity"),
                    "unit_price_cents": item.get("price"),
                },
            )
        )
    for op, key in (("remove", "itemsRemoved"), ("add", "itemsAdded")):
        for item in body.get(key, []):
            children.append(
                (
                    st.erp_change_items,
                    {
                        "operation": op,
                        "sku_id": item["id"],
                        "quantity": item["quantity"],
                        "unit_price_cents": item["price"],
                    },
                )
            )
    for event in body.get("events", []):
        children.append(
            (
                st.erp_tracking_update_events,
                {
                    "city": event["city"],
                    "state": event["state"],
                    "description": event["description"],
                    "event_date": event["date"],
                },
            )
        )
    async with env.staging.engine.begin() as conn:
        row_id = (await conn.execute(insert(table).values(values).returning(table.c.id))).scalar_one()
        for child, child_values in children:
            fk = next(c.name for c in child.c if c.foreign_keys)
            await conn.execute(insert(child).values({**child_values, fk: row_id}))
    return table, int(row_id)


#: What the catalog names as the REST body has it, and the column (or child table) a staging row has it in.
_STAGING_NAMES = {
    "invoiceNumber": "invoice_number",
    "invoiceValue": "invoice_value_cents",
    "issuanceDate": "issuance_date",
    "discountValue": "discount_cents",
    "invoiceUrl": "invoice_url",
    "trackingUrl": "tracking_url",
    "trackingNumber": "tracking_number",
    "items[0].id": "erp_invoice_items.sku_id (id ",
    "itemsRemoved": "erp_change_items",
}


def _in_staging_words(expect: str) -> list[str]:
    """The fragments a staging row's error must hold: the ERP's column instead of the wire field."""
    field, colon, rest = expect.partition(": ")
    if field not in _STAGING_NAMES:
        return [expect]
    return [_STAGING_NAMES[field], colon + rest]


@pytest.mark.parametrize("case", _cases(STAGING))
async def test_a_staging_row_is_marked_rejected_with_the_reason(env: Env, case: Case) -> None:
    await env.h.settled()
    before = await env.h.vtex_calls()
    table, row_id = await _stage(env, case)

    async def outcome() -> dict[str, Any] | None:
        async with env.staging.engine.connect() as conn:
            row = (await conn.execute(select(table).where(table.c.id == row_id))).mappings().one()
        return dict(row) if row["status"] != "new" else None

    async def processed() -> bool:
        return await outcome() is not None

    await eventually(processed, what=f"staging row of {case.id}")
    row = await outcome()
    assert row is not None
    assert row["status"] == "rejected"
    for fragment in _in_staging_words(case.expect):
        assert fragment in row["error"], row["error"]
    assert await env.h.vtex_calls() == before


async def test_the_catalog_holds_at_least_thirty_invalid_commands() -> None:
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)
