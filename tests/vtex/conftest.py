"""Fixtures of the vtex room: a scripted stub VTEX and clients wired to it.

Every test that uses ``make_client``/``client`` runs twice: in-process (``httpx2.ASGITransport``) and
over the production transport (aiohttp to the stub served by uvicorn on loopback), so the client's rules
are proven over the sockets production uses, not only over ASGI."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send
from vtex_stub import APP_KEY, APP_TOKEN, ClientFactory, Sleeps, StubVtex

from orderbridge.sandbox.testing import BackgroundServer
from orderbridge.vtex import RetryPolicy, VtexClient

VTEX_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "vtex"


def _max_jitter(low: float, high: float) -> float:
    return high


@pytest.fixture
def examples_dir() -> Path:
    """VTEX's own payloads, copied into the repository (see its README for sources)."""
    return VTEX_FIXTURES


@pytest.fixture
def load_example(examples_dir: Path) -> Callable[[str], Any]:
    def load(name: str) -> Any:
        return json.loads((examples_dir / name).read_text(encoding="utf-8"))

    return load


@pytest.fixture
def stub() -> StubVtex:
    return StubVtex()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def policy() -> RetryPolicy:
    """Deterministic jitter (always the cap) so tests can assert the backoff sequence."""
    return RetryPolicy(attempts=4, base_delay_s=0.1, max_delay_s=2.0, rng=_max_jitter)


class CurrentApp:
    """One uvicorn server for the whole session, serving whichever test's stub is current."""

    def __init__(self) -> None:
        self.app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        assert self.app is not None, "no test stub is being served"
        await self.app(scope, receive, send)


@pytest.fixture(scope="session")
def served_stub() -> Iterator[tuple[CurrentApp, str]]:
    current = CurrentApp()
    with BackgroundServer(current) as server:
        yield current, server.base_url


@pytest.fixture(params=["asgi", "aiohttp"])
def stub_url(request: pytest.FixtureRequest, stub: StubVtex) -> Iterator[str | None]:
    """None: reach the stub in-process; else the loopback URL that serves it to aiohttp."""
    if request.param == "asgi":
        yield None
        return
    current, base_url = request.getfixturevalue("served_stub")
    current.app = stub.app
    yield base_url
    current.app = None


@pytest.fixture
async def make_client(
    stub: StubVtex, sleeps: Sleeps, policy: RetryPolicy, stub_url: str | None
) -> AsyncIterator[ClientFactory]:
    made: list[VtexClient] = []

    def make(transport: httpx2.AsyncBaseTransport | None = None, **overrides: Any) -> VtexClient:
        options: dict[str, Any] = {
            "account_name": "stubstore",
            "app_key": APP_KEY,
            "app_token": APP_TOKEN,
            "base_url": stub_url or "http://vtex.test",
            "retry": policy,
            "sleep": sleeps,
            "transport": transport or (None if stub_url else httpx2.ASGITransport(stub.app)),
        }
        options.update(overrides)
        client = VtexClient(**options)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


@pytest.fixture
def client(make_client: ClientFactory) -> VtexClient:
    return make_client()
