"""The operators' console in a real browser: sign in, overview, an order's timeline, retries, sign out,
and the API docs page."""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from playwright.sync_api import Page, expect

from orderbridge.pipeline import operators
from orderbridge.store.db import Database

from .conftest import TOKEN
from .served import REQUESTS_PER_SECOND, ServedConsole

WAIT_MS = 30_000


def _sign_in(page: Page, console: ServedConsole) -> None:
    page.goto(f"{console.base_url}/ui")
    expect(page).to_have_url(re.compile(r"/ui/login$"))
    page.get_by_label(re.compile("API token")).fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()


def _status(console: ServedConsole) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        db = Database(console.database_url)
        try:
            return (await operators.status(db))["accounts"]
        finally:
            await db.dispose()

    # Playwright's sync API runs an event loop in this thread: read the store from another one.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, read()).result()


def test_a_wrong_token_is_refused_and_the_token_never_reaches_the_page(
    page: Page, console: ServedConsole
) -> None:
    page.goto(f"{console.base_url}/ui/login")
    page.get_by_label(re.compile("API token")).fill("not-the-token")
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("alert")).to_contain_text("not one of this service's API tokens")
    _sign_in(page, console)
    assert TOKEN not in page.content()
    cookie = next(c for c in page.context.cookies() if c["name"] == "orderbridge_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and TOKEN not in cookie["value"]


def test_the_overview_counts_match_the_store(page: Page, console: ServedConsole) -> None:
    _sign_in(page, console)
    ((account, expected),) = _status(console).items()

    section = page.locator(f"section[data-account='{account}']")
    for state, count in expected["orders"].items():
        expect(section.locator(f"td[data-state='{state}']")).to_have_text(str(count))
    expect(section.locator("td[data-rule='parked']")).to_have_text(str(expected["orders"].get("parked", 0)))
    # The feed is read several times a second: this account's calls of the last minute are never zero.
    expect(section.locator("dd[data-vtex='calls-per-min']")).to_have_text(
        re.compile(rf"^[1-9]\d* of {REQUESTS_PER_SECOND * 60} allowed \(\d+ %\)$")
    )


def test_an_orders_timeline_shows_its_event_vtex_calls_handover_and_park(
    page: Page, console: ServedConsole
) -> None:
    _sign_in(page, console)
    page.get_by_role("link", name="Parked", exact=True).click()
    first = page.locator("table.parked tbody tr").first
    order_id = first.get_attribute("data-order")
    assert order_id

    first.get_by_role("link", name=order_id).click()

    expect(page.get_by_role("heading", name=order_id)).to_be_visible()
    timeline = page.locator("ol.timeline")
    expect(timeline).to_contain_text("feed event")
    expect(timeline).to_contain_text("hand_over")
    get_order = timeline.locator("li.t-vtex", has_text=f"VTEX GET /api/oms/pvt/orders/{order_id}").first
    expect(get_order).to_contain_text("HTTP 200")
    expect(get_order.locator(".latency")).to_have_text(re.compile(r"^\d+\.\d ms$"))
    expect(get_order.locator(".attempt")).to_have_text("attempt 1")
    expect(page.locator("#pipeline-state")).to_have_text("parked")
    page.get_by_text("Stored VTEX document").click()
    expect(page.locator("details[open] pre")).to_contain_text(order_id)


def test_retrying_a_parked_order_gets_it_completed_and_the_retry_in_its_timeline(
    page: Page, console: ServedConsole
) -> None:
    _sign_in(page, console)
    page.goto(f"{console.base_url}/ui/parked")
    row = page.locator("table.parked tbody tr").first
    order_id = row.get_attribute("data-order")
    assert order_id

    row.get_by_role("button", name="Retry").click()
    expect(page.get_by_role("status")).to_contain_text(f"retried {order_id}")
    page.goto(f"{console.base_url}/ui/orders/acme/{order_id}")

    # The page polls itself (htmx): no reload here.
    expect(page.locator("#pipeline-state")).to_have_text("completed", timeout=WAIT_MS)
    expect(page.locator("ol.timeline")).to_contain_text("operator_retry")
    expect(page.locator("ol.timeline")).to_contain_text("by console:")


def test_retry_all_clears_the_parked_list_and_the_orders_complete(page: Page, console: ServedConsole) -> None:
    _sign_in(page, console)
    page.goto(f"{console.base_url}/ui/parked")
    parked = page.locator("table.parked tbody tr[data-order]")
    expect(parked.first).to_be_visible()

    page.locator("#retry-all").click()

    expect(page.get_by_role("status")).to_contain_text("retried")
    page.goto(f"{console.base_url}/ui")
    section = page.locator("section[data-account='acme']")
    expect(section.locator("td[data-state='completed']")).to_have_text("5", timeout=WAIT_MS)
    expect(section.locator("td[data-rule='parked']")).to_have_text("0")


def test_signing_out_ends_the_session(page: Page, console: ServedConsole) -> None:
    _sign_in(page, console)

    page.get_by_role("button", name="Sign out").click()

    expect(page).to_have_url(re.compile(r"/ui/login$"))
    page.goto(f"{console.base_url}/ui/orders")
    expect(page).to_have_url(re.compile(r"/ui/login$"))


def test_the_api_docs_render_the_openapi_31_document_offline(page: Page, console: ServedConsole) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    page.goto(f"{console.base_url}/docs")

    expect(page.locator(".opblock").first).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_text("Unable to render this definition")).to_have_count(0)
    assert all(url.startswith(console.base_url) for url in requested), requested


def test_the_orders_list_fits_a_phone_without_cutting_ids(page: Page, console: ServedConsole) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    _sign_in(page, console)
    page.goto(f"{console.base_url}/ui/orders")

    first = page.locator("table.orders td.id a").first
    text = first.inner_text()
    assert re.fullmatch(r"\d+-\d+", text), text
    box = first.bounding_box()
    assert box is not None and box["width"] > 0
    body_width = page.evaluate("document.body.scrollWidth")
    assert body_width <= 390 + 1  # the table scrolls inside its box; the page itself does not
