"""In-process sandbox fixtures: the ASGI app driven through httpx2's ASGITransport."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest

from orderbridge.sandbox.app import create_app
from orderbridge.sandbox.config import SandboxConfig
from orderbridge.sandbox.state import OmsState

APP_KEY = "vtexappkey-test"
APP_TOKEN = "test-token"
AUTH = {"X-VTEX-API-AppKey": APP_KEY, "X-VTEX-API-AppToken": APP_TOKEN}


def make_config(**overrides: Any) -> SandboxConfig:
    base: dict[str, Any] = {"account_name": "testaccount", "app_key": APP_KEY, "app_token": APP_TOKEN}
    return SandboxConfig(**{**base, **overrides})


class Sandbox:
    """A client on the in-process app plus shortcuts for the admin API."""

    def __init__(self, client: httpx2.AsyncClient, oms: OmsState) -> None:
        self.http = client
        self.oms = oms

    async def orders(self, count: int = 1, status: str = "ready-for-handling") -> list[str]:
        response = await self.http.post("/_sandbox/orders", json={"count": count, "status": status})
        assert response.status_code == 200, response.text
        ids: list[str] = response.json()["orderIds"]
        return ids

    async def advance(self, seconds: float) -> None:
        response = await self.http.post("/_sandbox/clock/advance", json={"seconds": seconds})
        assert response.status_code == 200, response.text

    async def order(self, order_id: str) -> dict[str, Any]:
        response = await self.http.get(f"/api/oms/pvt/orders/{order_id}", headers=AUTH)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def stats(self) -> dict[str, Any]:
        body: dict[str, Any] = (await self.http.get("/_sandbox/stats")).json()
        return body

    async def post(self, path: str, body: Any = None) -> httpx2.Response:
        return await self.http.post(path, json=body, headers=AUTH)

    async def handling(self) -> str:
        """A fresh order already in `handling`."""
        order_id = (await self.orders())[0]
        assert (await self.post(f"/api/oms/pvt/orders/{order_id}/start-handling")).status_code == 204
        return order_id

    async def feed_config(self, statuses: list[str] | None = None, visibility: int = 240) -> None:
        body: dict[str, Any] = {
            "filter": {"type": "FromWorkflow", "status": statuses or ["ready-for-handling", "handling"]},
            "queue": {"visibilityTimeoutInSeconds": visibility, "MessageRetentionPeriodInSeconds": 345600},
        }
        assert (await self.post("/api/orders/feed/config", body)).status_code == 200


async def open_sandbox(config: SandboxConfig, **app_options: Any) -> tuple[httpx2.AsyncClient, OmsState]:
    app = create_app(config, **app_options)
    client = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://127.0.0.1")
    return client, app.state.oms


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    client, oms = await open_sandbox(make_config())
    async with client:
        yield Sandbox(client, oms)
