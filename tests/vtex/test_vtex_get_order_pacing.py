"""Get order is paced under VTEX's per-account quota, so a busy caller avoids the 429s instead of
answering them (the quota is enforced for real by the sandbox, over 1 s windows)."""

from __future__ import annotations

import httpx2
from vtex_stub import APP_KEY, APP_TOKEN

from orderbridge.sandbox.app import create_app
from orderbridge.sandbox.config import SandboxConfig
from orderbridge.vtex import VtexClient

ACCOUNT = "pacedstore"
QUOTA_PER_MINUTE = 240  # 4 a second


async def test_get_order_paced_under_the_quota_is_never_answered_429() -> None:
    app = create_app(SandboxConfig(account_name=ACCOUNT, app_key=APP_KEY, app_token=APP_TOKEN))
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://sandbox") as admin:
        quota = {"rate_limit_per_minute": QUOTA_PER_MINUTE, "rate_limit_window_s": 1}
        (await admin.put("/_sandbox/faults", json={"endpoints": {"get_order": quota}})).raise_for_status()
        order_id = (await admin.post("/_sandbox/orders", json={"count": 1})).json()["orderIds"][0]
        client = VtexClient(
            ACCOUNT,
            APP_KEY,
            APP_TOKEN,
            base_url="http://sandbox",
            transport=httpx2.ASGITransport(app=app),
            get_order_per_minute=QUOTA_PER_MINUTE,
        )
        async with client:
            for _ in range(10):
                await client.get_order(order_id)
        calls = (await admin.get("/_sandbox/stats")).json()["calls"]["get_order"]
    assert calls == {"200": 10}
