"""Fixtures of the vtex room: a scripted stub VTEX and clients wired to it in-process."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx2
import pytest
from vtex_stub import APP_KEY, APP_TOKEN, ClientFactory, Sleeps, StubVtex

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


@pytest.fixture
async def make_client(stub: StubVtex, sleeps: Sleeps, policy: RetryPolicy) -> AsyncIterator[ClientFactory]:
    made: list[VtexClient] = []

    def make(transport: httpx2.AsyncBaseTransport | None = None, **overrides: Any) -> VtexClient:
        options: dict[str, Any] = {
            "account_name": "stubstore",
            "app_key": APP_KEY,
            "app_token": APP_TOKEN,
            "base_url": "http://vtex.test",
            "retry": policy,
            "sleep": sleeps,
            "transport": transport or httpx2.ASGITransport(stub.app),
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
