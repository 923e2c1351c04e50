"""On PostgreSQL, every process serving an account paces its VTEX calls from one shared schedule."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import pytest

from orderbridge.config import load_settings
from orderbridge.sandbox.testing import sandbox_subprocess
from orderbridge.service import Service
from orderbridge.vtex.errors import NotFound

pytestmark = pytest.mark.postgres

CONFIG = """
database_url = "{database_url}"

[[accounts]]
name = "sandboxaccount"
app_key = "vtexappkey-sandbox"
app_token = "sandbox-token"
base_url = "{base_url}"
get_order_per_minute = 600

[erp.warehouse]
database = "{tmp}/warehouse.db"
"""


def _service(tmp_path: Path, name: str, database_url: str, base_url: str) -> Service:
    path = tmp_path / f"{name}.toml"
    text = CONFIG.format(database_url=database_url, base_url=base_url, tmp=tmp_path / name)
    path.write_text(text, encoding="utf-8")
    return Service(load_settings(path))


async def _get_orders(service: Service, calls: int) -> None:
    client = service.clients["sandboxaccount"]
    for n in range(calls):
        with contextlib.suppress(NotFound):  # paced all the same: the wait comes before the call
            await client.get_order(f"unknown-{n}")


def test_two_processes_on_one_account_pace_get_order_together(
    tmp_path: Path, migrated_postgres_url: str
) -> None:
    # 600 Get order a minute: the pace is 9 calls a second, one at a time. Two processes pacing
    # themselves alone would send 18 a second together.
    with sandbox_subprocess() as base_url:
        first, second = (_service(tmp_path, n, migrated_postgres_url, base_url) for n in ("first", "second"))

        async def both() -> float:
            assert first.rate_limits is not None and second.rate_limits is not None
            await first.rate_limits.open()
            await second.rate_limits.open()
            try:
                started = time.monotonic()
                await asyncio.gather(_get_orders(first, 15), _get_orders(second, 15))
                return time.monotonic() - started
            finally:
                for service in (first, second):
                    await service.clients["sandboxaccount"].aclose()
                    await service.rate_limits.close()  # type: ignore[union-attr]
                    await service.db.dispose()

        elapsed = asyncio.run(both())
    assert elapsed >= (30 - 1) / 9 * 0.95
