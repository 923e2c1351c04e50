"""The dashboard's Overview says which account is paused and why and counts its hook deliveries of the
last hour; the Orders page filters by state and VTEX status, finds an order by `sellerOrderId`, and
pages through the rest without shortening ids."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from orderbridge.api.app import create_api
from orderbridge.api.ui import PAGE_SIZE
from orderbridge.pipeline.deps import AccountPolicy, PipelineDeps
from orderbridge.store import repo
from orderbridge.store.db import Database

TOKEN = "console-pages-token"
ORDERS = PAGE_SIZE + 3


class Served:
    def __init__(self, deps: PipelineDeps) -> None:
        self.deps = deps


def order_id(n: int) -> str:
    return f"{1332600000000 + n}-01"


async def _seed(url: str) -> None:
    db = Database(url)
    await db.migrate()
    try:
        with db.begin() as session:
            repo.upsert_account(session, "shop", {})
            repo.upsert_account(session, "calm", {})
            repo.set_account_paused(session, "calm", True, "VTEX answered 401: appKey revoked")
            for n in range(2):
                repo.record_intake_event(session, "shop", "hook", order_id(n), "handling", None, "t", {})
            for n in range(ORDERS):
                status = "handling" if n % 2 else "invoiced"
                raw = {"orderId": order_id(n), "sellerOrderId": f"SLR-{n:04d}", "status": status}
                repo.upsert_order(session, "shop", order_id(n), status, raw, {"value_cents": 100}, "t")
            repo.set_pipeline_state(session, "shop", order_id(7), "parked", park_reason="test")
    finally:
        await db.dispose()


@pytest.fixture
def console(tmp_path: Path) -> Iterator[TestClient]:
    url = f"sqlite:///{tmp_path / 'ob.db'}"
    asyncio.run(_seed(url))
    erp: Any = None
    deps = PipelineDeps(Database(url), {}, erp, {name: AccountPolicy(name) for name in ("shop", "calm")})
    deps.sink = erp  # the pages read; nothing here is sent to an ERP
    with TestClient(create_api(Served(deps), api_tokens=[TOKEN])) as client:
        nonce = re.search(r'name="nonce" value="([^"]+)"', client.get("/ui/login").text)
        assert nonce
        client.post("/ui/login", data={"token": TOKEN, "nonce": nonce.group(1)})
        yield client


def _listed(page: str) -> list[str]:
    return re.findall(r'<td class="id"><a href="[^"]+">([^<]+)</a>', page)


def test_the_overview_says_which_account_is_paused_and_why_and_counts_hook_deliveries(
    console: TestClient,
) -> None:
    page = console.get("/ui").text

    calm = page[page.index('data-account="calm"') : page.index('data-account="shop"')]
    shop = page[page.index('data-account="shop"') :]
    assert "paused: VTEX answered 401: appKey revoked" in calm
    assert "paused" not in shop.split("</h2>")[0]
    assert re.search(r"Hook deliveries \(1 h\)</dt><dd>2<", shop), shop[:1500]
    assert re.search(r"Hook deliveries \(1 h\)</dt><dd>0<", calm), calm[:1500]


def test_the_orders_page_filters_by_state_and_vtex_status_and_finds_a_seller_order_id(
    console: TestClient,
) -> None:
    parked = _listed(console.get("/ui/orders", params={"state": "parked"}).text)
    handling = _listed(console.get("/ui/orders", params={"vtex_status": "handling", "account": "shop"}).text)
    found = _listed(console.get("/ui/orders", params={"q": "SLR-0012"}).text)
    by_id = _listed(console.get("/ui/orders", params={"q": order_id(12)}).text)

    assert parked == [order_id(7)]
    assert sorted(handling) == sorted(order_id(n) for n in range(ORDERS) if n % 2)
    assert found == by_id == [order_id(12)]


def test_the_orders_page_pages_through_every_order_with_whole_ids(console: TestClient) -> None:
    first = console.get("/ui/orders").text
    second = console.get("/ui/orders", params={"page_no": 2}).text

    assert "page 1 of 2" in first and 'page_no=2">older' in first
    listed = _listed(first) + _listed(second)
    assert len(_listed(first)) == PAGE_SIZE
    assert sorted(listed) == sorted(order_id(n) for n in range(ORDERS))
