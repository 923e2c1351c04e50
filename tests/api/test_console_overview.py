"""The dashboard's Overview shows the ERP channels' health and an account whose VTEX is unreachable."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from orderbridge.api.app import create_api
from orderbridge.pipeline.deps import AccountPolicy, PipelineDeps
from orderbridge.pipeline.vtex_health import DEGRADED_AFTER, VtexHealth
from orderbridge.store import repo
from orderbridge.store.db import Database

TOKEN = "console-test-token"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Served:
    def __init__(self, deps: PipelineDeps) -> None:
        self.deps = deps


async def _record_outages(url: str) -> None:
    db = Database(url)
    await db.migrate()
    try:
        async with db.transaction() as session:
            await repo.upsert_account(session, "shop", {})
            await repo.upsert_account(session, "calm", {})
            await repo.set_erp_channel(
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
    url = f"sqlite+aiosqlite:///{tmp_path / 'ob.db'}"
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
