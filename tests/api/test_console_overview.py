"""The dashboard's Overview shows the ERP channels' health, an account whose VTEX is unreachable, and each
account's VTEX calls and 429s of the last minute against its own limit."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from orderbridge.api.app import create_api
from orderbridge.metrics import LastMinute, observe_vtex_call
from orderbridge.pipeline.deps import AccountPolicy, PipelineDeps
from orderbridge.pipeline.vtex_health import DEGRADED_AFTER, VtexHealth
from orderbridge.store import repo
from orderbridge.store.db import Database
from orderbridge.vtex import VtexCall, VtexClient

TOKEN = "console-test-token"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Served:
    def __init__(self, deps: PipelineDeps) -> None:
        self.deps = deps


async def _record_outages(url: str) -> None:
    db = Database(url)
    await db.migrate()
    try:
        with db.begin() as session:
            repo.upsert_account(session, "shop", {})
            repo.upsert_account(session, "calm", {})
            repo.set_erp_channel(
                session, "webhook", healthy=False, consecutive_failures=7,
                last_error="POST https://erp.example/orders: 503", changed_at=NOW,
            )  # fmt: skip
        health = VtexHealth(db)
        for _ in range(DEGRADED_AFTER):
            await health.read_failed("shop", "GET /api/orders/feed: ConnectError", NOW)
        await health.read_worked("calm", NOW)
    finally:
        await db.dispose()


def _signed_in(client: TestClient) -> None:
    form = client.get("/ui/login").text
    nonce = re.search(r'name="nonce" value="([^"]+)"', form)
    assert nonce, form
    response = client.post("/ui/login", data={"token": TOKEN, "nonce": nonce.group(1)})
    assert response.status_code == 200 and "Overview" in response.text


def test_the_overview_shows_erp_channel_health_and_an_account_whose_vtex_is_unreachable(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'ob.db'}"
    asyncio.run(_record_outages(url))
    db = Database(url)
    policies = {name: AccountPolicy(name) for name in ("shop", "calm")}
    erp: Any = None
    deps = PipelineDeps(db, {}, erp, policies)
    deps.sink = erp  # the pages read; nothing here is sent to an ERP
    app = create_api(Served(deps), api_tokens=[TOKEN])

    with TestClient(app) as client:
        _signed_in(client)
        page = client.get("/ui").text

    channels = page[page.index("ERP channels") : page.index('data-account="')]
    assert 'data-channel="webhook"' in channels and "unhealthy" in channels
    assert "7 failures in a row" in channels and "503" in channels
    assert "vtex:" not in page  # VTEX's health is shown with its account, not as an ERP channel
    shop = page[page.index('data-account="shop"') :]
    calm = page[page.index('data-account="calm"') : page.index('data-account="shop"')]
    assert 'data-vtex="degraded"' in shop and "ConnectError" in shop
    assert 'data-vtex="degraded"' not in calm


def _calls(account: str, count: int, *, rate_limited: int = 0) -> None:
    """`count` VTEX attempts of `account` as its client reports them; the first `rate_limited` are 429s."""
    for n in range(count):
        observe_vtex_call(
            VtexCall(
                account=account,
                method="GET",
                endpoint="/api/oms/pvt/orders/{order_id}",
                path=f"/api/oms/pvt/orders/o{n}",
                order_id=f"o{n}",
                status=429 if n < rate_limited else 200,
                error=None,
                seconds=0.01,
                attempt=1,
                retry_after=1.0 if n < rate_limited else None,
                started_at=NOW,
            )
        )


def test_the_overview_shows_each_accounts_vtex_calls_per_minute_and_429s_against_its_own_limit(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'ob.db'}"
    asyncio.run(_record_outages(url))
    # Names of their own: the counters are the process's, shared with every other test.
    busy, calm = "busy-minute-shop", "calm-minute-shop"
    clients = {
        busy: VtexClient(busy, "key", "token", requests_per_second=10),
        calm: VtexClient(calm, "key", "token", get_order_per_minute=None),
    }
    erp: Any = None
    deps = PipelineDeps(Database(url), clients, erp, {name: AccountPolicy(name) for name in clients})
    deps.sink = erp
    _calls(busy, 9, rate_limited=3)
    _calls(calm, 2)

    with TestClient(create_api(Served(deps), api_tokens=[TOKEN])) as client:
        _signed_in(client)
        page = client.get("/ui").text

    def fact(account: str, name: str) -> str:
        section = page[page.index(f'data-account="{account}"') :]
        found = re.search(rf'data-vtex="{name}"[^>]*>([^<]*)<', section)
        assert found, section[:2000]
        return found.group(1)

    assert fact(busy, "calls-per-min") == "9 of 600 allowed (2 %)"
    assert fact(busy, "429-per-min") == "3 (Get order paced under 6000/min)"
    assert fact(calm, "calls-per-min") == "2 (no client-side limit)"
    assert fact(calm, "429-per-min") == "0"


def test_calls_older_than_a_minute_leave_the_last_minute_counts() -> None:
    now = [1000.0]
    window = LastMinute(clock=lambda: now[0])
    window.count("shop", rate_limited=True)
    now[0] += 30
    window.count("shop", rate_limited=False)
    window.count("other", rate_limited=False)
    assert window.totals() == {"shop": (2, 1), "other": (1, 0)}

    now[0] += 45  # the first call is 75 s old, the others 45 s

    assert window.totals() == {"shop": (1, 0), "other": (1, 0)}
