"""An order's timeline in the dashboard lists every VTEX call made about it: method, path, status,
latency and attempt, one line per HTTP attempt, stored with the pipeline's other writes."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import httpx2
from sqlalchemy import func, select

from orderbridge.api.app import create_api
from orderbridge.store import repo, tables

from .conftest import ACCOUNT, IDLE_WAREHOUSE, Harness, HarnessFactory

TOKEN = "timeline-test-token"


class RateLimitFirstStartHandling:
    """Answers VTEX's 429 (with `Retry-After: 0`) to the first start-handling POST, unprocessed: the
    client waits as told and repeats it, and the repeat reaches the sandbox."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.limited = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        start = scope["type"] == "http" and scope["path"].endswith("/start-handling")
        if not start or self.limited:
            await self.app(scope, receive, send)
            return
        self.limited += 1
        body = json.dumps({"error": {"code": "429", "message": "Too Many Requests"}}).encode()
        headers = [(b"content-type", b"application/json"), (b"retry-after", b"0")]
        await send({"type": "http.response.start", "status": 429, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def _handling_order(harness: Harness) -> str:
    (order_id,) = await harness.create_orders(1)
    await harness.wait_for(lambda: harness.in_state(order_id, "handling"), what="handling")
    await harness.pipeline.deps.call_log.drain()
    return order_id


async def _timeline_lines(harness: Harness, order_id: str) -> list[str]:
    """The order page's VTEX lines as an operator reads them (tags stripped, spaces collapsed)."""
    app = create_api(harness.pipeline, [TOKEN])
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://ui.test") as ui:
        form = (await ui.get("/ui/login")).text
        nonce = re.search(r'name="nonce" value="([^"]+)"', form)
        assert nonce, form
        await ui.post("/ui/login", data={"token": TOKEN, "nonce": nonce.group(1)})
        page = await ui.get(f"/ui/orders/{ACCOUNT}/{order_id}")
    assert page.status_code == 200 and "Timeline" in page.text, page.text[:500]
    items = re.findall(r'<li class="t-vtex"[^>]*>(.*?)</li>', page.text, flags=re.S)
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", item)).split()) for item in items]


async def test_an_orders_timeline_lists_its_get_order_and_start_handling_calls_with_status_and_latency(
    make_harness: HarnessFactory,
) -> None:
    harness = await make_harness(warehouse=IDLE_WAREHOUSE)
    order_id = await _handling_order(harness)

    lines = await _timeline_lines(harness, order_id)

    get_order = re.compile(rf"VTEX GET /api/oms/pvt/orders/{order_id} HTTP 200 \d+\.\d ms attempt 1$")
    start = re.compile(
        rf"VTEX POST /api/oms/pvt/orders/{order_id}/start-handling HTTP 204 \d+\.\d ms attempt 1$"
    )
    assert any(get_order.search(line) for line in lines), lines
    assert sum(bool(start.search(line)) for line in lines) == 1, lines
    assert all("?" not in line and "appToken" not in line for line in lines)


async def test_a_429_then_success_shows_both_attempts_of_the_call(make_harness: HarnessFactory) -> None:
    harness = await make_harness(warehouse=IDLE_WAREHOUSE, wrap_vtex=RateLimitFirstStartHandling)
    order_id = await _handling_order(harness)

    lines = await _timeline_lines(harness, order_id)

    starts = [line for line in lines if f"VTEX POST /api/oms/pvt/orders/{order_id}/start-" in line]
    assert len(starts) == 2, lines
    assert re.search(r"HTTP 429 \d+\.\d ms attempt 1$", starts[0]), starts
    assert re.search(r"HTTP 204 \d+\.\d ms attempt 2$", starts[1]), starts


async def test_only_calls_about_orders_are_stored_never_feed_reads(make_harness: HarnessFactory) -> None:
    harness = await make_harness(warehouse=IDLE_WAREHOUSE)
    order_ids = [await _handling_order(harness) for _ in range(2)]

    with harness.db.connect() as session:
        calls = [c for o in order_ids for c in repo.list_vtex_calls(session, ACCOUNT, o)]
        stored = session.scalar(select(func.count()).select_from(tables.vtex_calls))

    assert len(calls) >= 4 and stored == len(calls)
    assert all(c.path.startswith("/api/oms/pvt/orders/") and c.latency_ms >= 0 for c in calls)
