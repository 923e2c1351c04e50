"""Get order is paced under VTEX's per-account quota, so a busy caller avoids the 429s instead of
answering them (the quota is enforced for real by the sandbox, over 1 s windows)."""

from __future__ import annotations

import asyncio
import time

import httpx2
from vtex_stub import APP_KEY, APP_TOKEN

from orderbridge.sandbox.app import create_app
from orderbridge.sandbox.config import SandboxConfig
from orderbridge.vtex import VtexClient

ACCOUNT = "pacedstore"
QUOTA_PER_MINUTE = 240  # 4 a second


async def _calls_under_quota(per_minute: int, calls: int, concurrent: bool) -> dict[str, int]:
    app = create_app(SandboxConfig(account_name=ACCOUNT, app_key=APP_KEY, app_token=APP_TOKEN))
    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=app), base_url="http://sandbox"
    ) as admin:
        quota = {"rate_limit_per_minute": per_minute, "rate_limit_window_s": 1}
        (await admin.put("/_sandbox/faults", json={"endpoints": {"get_order": quota}})).raise_for_status()
        order_id = (await admin.post("/_sandbox/orders", json={"count": 1})).json()["orderIds"][0]
        client = VtexClient(
            ACCOUNT,
            APP_KEY,
            APP_TOKEN,
            base_url="http://sandbox",
            transport=httpx2.ASGITransport(app=app),
            get_order_per_minute=per_minute,
        )
        async with client:
            if concurrent:
                await asyncio.gather(*(client.get_order(order_id) for _ in range(calls)))
            else:
                for _ in range(calls):
                    await client.get_order(order_id)
        found: dict[str, int] = (await admin.get("/_sandbox/stats")).json()["calls"]["get_order"]
    return found


async def test_get_order_paced_under_the_quota_is_never_answered_429() -> None:
    assert await _calls_under_quota(QUOTA_PER_MINUTE, 10, concurrent=False) == {"200": 10}


async def test_a_crowd_of_get_orders_at_a_high_quota_is_never_answered_429() -> None:
    """At 20/s and more the pace keeps two tokens (a late wake-up is not lost): still within quota."""
    started = time.perf_counter()
    calls = await _calls_under_quota(1200, 50, concurrent=True)
    assert calls == {"200": 50}
    assert time.perf_counter() - started >= 50 / 20 - 1  # paced: not all at once
