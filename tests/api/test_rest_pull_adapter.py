"""`[erp] adapter = "rest"`: an ERP that only polls runs every order's whole life over the REST API.

The pipeline hands nothing out (no webhook, no tables, no files): orders wait in `awaiting_erp` until the
ERP lists them, then the ERP accepts, changes, invoices, tracks and delivers, or answers a shopper's
cancellation request, with nothing but HTTP calls to `/api/v1`. The sandbox plays VTEX (in process)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest

from api.rest_world import rest_client
from erp_adapters.harness import ACCOUNT, Harness, eventually, running_pipeline
from orderbridge.erp.pull import PullOnlyErp
from orderbridge.pipeline.deps import AccountPolicy

TOKEN = "pull-only-erp-token-0123456789"


@dataclass
class Erp:
    """The ERP's side: an HTTP client with its token, nothing else."""

    api: httpx2.AsyncClient

    async def listed(self, state: str) -> list[str]:
        page = await self.api.get("/api/v1/orders", params={"pipelineState": state, "limit": 100})
        assert page.status_code == 200, page.text
        return [o["orderId"] for o in page.json()["items"]]

    async def until_listed(self, state: str, order_id: str) -> None:
        async def shown() -> bool:
            return order_id in await self.listed(state)

        await eventually(shown, what=f"{order_id} listed in {state}")

    async def order(self, order_id: str) -> dict[str, Any]:
        detail = await self.api.get(f"/api/v1/orders/{order_id}")
        assert detail.status_code == 200, detail.text
        found: dict[str, Any] = detail.json()
        return found

    async def sent(self, method: str, path: str, body: dict[str, Any]) -> str:
        """Send a command; wait until VTEX shows it (`confirmed`); its id."""
        answer = await self.api.request(method, path, json=body)
        assert answer.status_code == 202, answer.text
        command_id: str = answer.json()["commandId"]

        async def confirmed() -> bool:
            view = (await self.api.get(f"/api/v1/commands/{command_id}")).json()
            assert view["status"] not in ("rejected", "failed"), view
            return bool(view["status"] == "confirmed")

        await eventually(confirmed, what=f"{method} {path} confirmed")
        return command_id


@pytest.fixture
async def world(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[tuple[Harness, Erp]]:
    before_acceptance = getattr(request, "param", "accept")
    policy = AccountPolicy(ACCOUNT, pollers=1, cancellation_before_acceptance=before_acceptance)
    async with running_pipeline(tmp_path, PullOnlyErp(), policy=policy) as h, rest_client(h, TOKEN) as api:
        yield h, Erp(api)


def _lines(raw: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"id": i["id"], "quantity": i["quantity"], "price": i.get("sellingPrice", i["price"])}
        for i in raw["items"]
    ]


async def test_a_polling_erp_runs_an_order_from_awaiting_to_delivered_over_rest_only(
    world: tuple[Harness, Erp],
) -> None:
    h, erp = world
    [order_id] = await h.new_orders(1)
    await erp.until_listed("awaiting_erp", order_id)
    # Nothing was offered anywhere, nothing retried: one handover, answered "later" by listing.
    await h.settled()
    handovers = [a for a in (await erp.order(order_id))["attempts"] if a["action"] == "hand_over"]
    assert [a["outcome"] for a in handovers] == ["later"]

    accepted = await erp.api.post(
        f"/api/v1/orders/{order_id}/acceptance", json={"accepted": True, "erpReference": "SO-1"}
    )
    assert accepted.status_code == 202, accepted.text
    await erp.until_listed("handling", order_id)

    raw = (await erp.order(order_id))["raw"]
    line = _lines(raw)[0]
    change = {
        "reason": "one unit out of stock",
        "requestId": "SO-1-C1",
        "itemsRemoved": [{**line, "quantity": 1}],
    }
    await erp.sent("POST", f"/api/v1/orders/{order_id}/changes", change)

    detail = await erp.order(order_id)
    invoice = {
        "invoiceNumber": "NF-1",
        "invoiceValue": detail["valueCents"],
        "issuanceDate": "2026-11-27T10:00:00Z",
        "items": [line for line in _lines(detail["raw"]) if line["quantity"] > 0],
    }
    await erp.sent("POST", f"/api/v1/orders/{order_id}/invoices", invoice)
    tracking = {"trackingNumber": "TRK-1", "courier": "Correios"}
    await erp.sent("PATCH", f"/api/v1/orders/{order_id}/invoices/NF-1", tracking)
    delivered = {
        "isDelivered": True,
        "deliveredDate": "2026-11-28T10:00:00Z",
        "events": [
            {"city": "Rio", "state": "RJ", "description": "Delivered", "date": "2026-11-28T10:00:00Z"}
        ],
    }
    await erp.sent("POST", f"/api/v1/orders/{order_id}/invoices/NF-1/tracking-events", delivered)

    await erp.until_listed("completed", order_id)
    done = await erp.order(order_id)
    assert [c["kind"] for c in done["commands"]] == [
        "change",
        "invoice",
        "tracking_number",
        "tracking_events",
    ]
    assert done["erpReference"] == "SO-1"
    stats = await h.stats()
    assert stats["invoices"][order_id]["posts"] == 1 and stats["start_handling"][order_id] == 1


async def test_a_polling_erp_answers_a_shoppers_cancellation_request_and_unanswered_orders_wait(
    world: tuple[Harness, Erp],
) -> None:
    h, erp = world
    accepted_id, waiting_id = await h.new_orders(2)
    await erp.until_listed("awaiting_erp", accepted_id)
    await erp.until_listed("awaiting_erp", waiting_id)
    ok = await erp.api.post(f"/api/v1/orders/{accepted_id}/acceptance", json={"accepted": True})
    assert ok.status_code == 202, ok.text
    await erp.until_listed("handling", accepted_id)

    # The shopper asks to cancel both. The accepted order is the ERP's to decide; the one the ERP never
    # answered is not in fulfilment: by default (`cancellation_before_acceptance = "accept"`) it is
    # canceled without asking, and the ERP sees it canceled.
    for order_id in (accepted_id, waiting_id):
        (await h.admin.post(f"/_sandbox/orders/{order_id}/customer-cancel")).raise_for_status()
    await erp.until_listed("cancellation_asked", accepted_id)
    await erp.until_listed("canceled", waiting_id)
    await erp.sent("POST", f"/api/v1/orders/{accepted_id}/cancellation", {"reason": "the shopper asked"})
    await erp.until_listed("canceled", accepted_id)

    async def vtex_canceled() -> bool:
        return all([(await h.vtex_order(o))["status"] == "canceled" for o in (accepted_id, waiting_id)])

    await eventually(vtex_canceled, what="both orders canceled at VTEX")
    assert waiting_id not in (await h.stats())["start_handling"]
    states = {o["orderId"]: o["pipelineState"] for o in (await erp.api.get("/api/v1/orders")).json()["items"]}
    assert states == {accepted_id: "canceled", waiting_id: "canceled"}


@pytest.mark.parametrize("world", ["ask_erp"], indirect=True)
async def test_with_ask_erp_a_request_before_acceptance_waits_for_the_polling_erp_to_decide(
    world: tuple[Harness, Erp],
) -> None:
    h, erp = world
    [order_id] = await h.new_orders(1)
    await erp.until_listed("awaiting_erp", order_id)
    (await h.admin.post(f"/_sandbox/orders/{order_id}/customer-cancel")).raise_for_status()
    await erp.until_listed("cancellation_asked", order_id)
    too_early = await erp.api.post(f"/api/v1/orders/{order_id}/acceptance", json={"accepted": True})
    assert too_early.status_code == 409 and "'cancellation_asked'" in too_early.json()["detail"]

    await erp.sent(
        "POST", f"/api/v1/orders/{order_id}/cancellation-request/deny", {"reason": "we ship today"}
    )
    await erp.until_listed("awaiting_erp", order_id)  # back to waiting for the ERP's acceptance
    accepted = await erp.api.post(f"/api/v1/orders/{order_id}/acceptance", json={"accepted": True})

    assert accepted.status_code == 202, accepted.text
    await erp.until_listed("handling", order_id)
    assert (await h.stats())["start_handling"][order_id] == 1
