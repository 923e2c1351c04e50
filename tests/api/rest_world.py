"""What the REST tests share: the ERP-facing API mounted on a running pipeline exactly as the service
mounts it, a webhook ERP that decides later through that API, and a wait for a pipeline state.

A test module takes the `world` fixture (a pipeline handing orders to that ERP, and the API) by
importing `erp` and `world` from here."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest

from erp_adapters.fake_erp_server import FakeErp, Reply, fake_erp_server
from erp_adapters.harness import Harness, eventually, running_pipeline
from orderbridge.api.app import create_api
from orderbridge.erp.webhook import WebhookConfig, WebhookErp

TOKEN = "rest-e2e-token-abcdef0123456789"
SECRET = "webhook-secret-e2e-0123456789"


@dataclass
class World:
    h: Harness
    erp: FakeErp
    api: httpx2.AsyncClient


@pytest.fixture
def erp() -> Iterator[FakeErp]:
    with erp_deciding_later(SECRET) as server:
        yield server


@pytest.fixture
async def world(tmp_path: Path, erp: FakeErp) -> AsyncIterator[World]:
    adapter = WebhookErp(WebhookConfig(url=erp.url, secret=SECRET, timeout_s=2.0))
    async with running_pipeline(tmp_path, adapter) as h, rest_client(h, TOKEN) as api:
        yield World(h, erp, api)


@contextlib.asynccontextmanager
async def rest_client(h: Harness, token: str) -> AsyncIterator[httpx2.AsyncClient]:
    """An HTTP client of the API over `h`'s pipeline, signed in with `token`."""
    app = create_api(h.pipeline, [token])
    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=app),
        base_url="http://orderbridge",
        headers={"Authorization": f"Bearer {token}"},
    ) as api:
        yield api


@contextlib.contextmanager
def erp_deciding_later(secret: str) -> Iterator[FakeErp]:
    """A webhook ERP that takes every order and cancellation request for later (202) and decides
    through the REST API; a notice of a cancellation is simply acknowledged (200)."""
    with fake_erp_server(secret) as server:
        server.decide = lambda d: Reply(200, {}) if d.event == "order-canceled" else Reply(202, {})
        yield server


async def reach_state(h: Harness, order_id: str, state: str) -> None:
    async def reached() -> bool:
        row = await h.order_row(order_id)
        return row is not None and row.pipeline_state == state

    await eventually(reached, what=f"{order_id} in {state}")
