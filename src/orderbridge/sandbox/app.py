"""`create_app(config)`: the sandbox as an ASGI app (Starlette); every account's state at
`app.state.accounts`, the default account's also at `app.state.oms`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from orderbridge.sandbox import admin, routes_feed, routes_oms
from orderbridge.sandbox.accounts import AccountPrefix, Accounts
from orderbridge.sandbox.config import SandboxConfig
from orderbridge.sandbox.fastpath import FastGetOrder
from orderbridge.sandbox.responses import oms_error

if TYPE_CHECKING:  # httpx2 is a test dependency: the in-process transports tests plug in
    import httpx2


async def _ticker(accounts: Accounts, interval_s: float) -> None:
    """Keeps time-based transitions and hook deliveries moving when nobody calls in."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            accounts.tick()
            await accounts.deliver_due()
        except Exception:  # a broken receiver or timer must never stop the clock
            continue


async def _not_found(request: Request, exc: Exception) -> Response:
    return oms_error(404, "1", f"No route for {request.method} {request.url.path}")


async def _wrong_verb(request: Request, exc: Exception) -> Response:
    return oms_error(
        405, "1", f"The verb '{request.method}' is not compatible with the route '{request.url.path}'"
    )


def create_app(
    config: SandboxConfig, *, hook_transport: httpx2.AsyncBaseTransport | None = None
) -> Starlette:
    """A fresh sandbox. In-process tests drive time with `/_sandbox/clock/advance` (which also
    delivers due hooks); under uvicorn a background ticker does it in real time as well."""
    accounts = Accounts(config, hook_transport)
    accounts.seed_orders()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(_ticker(accounts, config.ticker_interval_s))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await accounts.close()

    app = Starlette(
        routes=[*routes_oms.ROUTES, *routes_feed.ROUTES, *admin.ROUTES],
        lifespan=lifespan,
        # The account prefix first: the fast path and the routes see VTEX's own paths.
        middleware=[
            Middleware(AccountPrefix, names=frozenset(accounts.names())),
            Middleware(FastGetOrder),
        ],
        exception_handlers={404: _not_found, 405: _wrong_verb},
    )
    app.state.accounts = accounts
    app.state.oms = accounts.default
    return app
