"""What the REST tests share: the ERP-facing API mounted on a running pipeline exactly as the service
mounts it, a webhook ERP that decides later through that API, and a wait for a pipeline state."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

import httpx2

from erp_adapters.fake_erp_server import FakeErp, Reply, fake_erp_server
from erp_adapters.harness import Harness, eventually
from orderbridge.api.app import create_api


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
