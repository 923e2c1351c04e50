"""Two VTEX accounts served by ONE sandbox, as `orderbridge run` is configured for them: each account's
`base_url` is the sandbox's URL plus the account's prefix, its own appKey and appToken. The whole service
runs in this process (feed intake, simulated warehouse); every order of each account ends delivered at
its own account, handled once, and nothing reaches the other account."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx2

from erp_adapters.harness import eventually
from orderbridge.config import load_settings
from orderbridge.sandbox.config import SandboxAccount
from orderbridge.sandbox.testing import SandboxServer
from orderbridge.service import Service
from pipeline.conftest import FAST_TIMING, sandbox_config

ORDERS_PER_ACCOUNT = 3
FIRST = SandboxAccount("first-shop", "vtexappkey-first", "first-t0ken")
SECOND = SandboxAccount("second-shop", "vtexappkey-second", "second-t0ken")
CONFIG = """
database_url = "sqlite:///{d}/orderbridge.db"
workers = 8
reconcile_interval_s = 3600
{accounts}
[erp]
adapter = "warehouse"

[erp.warehouse]
database = "{d}/warehouse.db"
idle_poll_s = 0.05
first_step_delay_s = 0.02
step_delay_s = 0.02
self_cancel_ratio = 0
out_of_stock_ratio = 0
partial_invoice_ratio = 0
tracking_events = 1

[api]
enabled = false
"""
ACCOUNT = """
[[accounts]]
name = "{name}"
base_url = "{base_url}"
app_key = "{app_key}"
app_token = "{app_token}"
pollers = 1
"""


async def _ledger(admin: httpx2.AsyncClient, account: str) -> dict[str, Any]:
    response = await admin.get("/_sandbox/ledger", params={"account": account})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_one_sandbox_serves_two_accounts_of_one_service_end_to_end(tmp_path: Path) -> None:
    config = sandbox_config(
        account_name=FIRST.name, app_key=FIRST.app_key, app_token=FIRST.app_token, more_accounts=(SECOND,)
    )
    async with SandboxServer(config) as sandbox, httpx2.AsyncClient(base_url=sandbox.base_url) as admin:
        accounts = "".join(
            ACCOUNT.format(
                name=a.name, base_url=f"{sandbox.base_url}/{a.name}", app_key=a.app_key, app_token=a.app_token
            )
            for a in (FIRST, SECOND)
        )
        (tmp_path / "orderbridge.toml").write_text(CONFIG.format(d=tmp_path, accounts=accounts))
        service = Service(
            load_settings(tmp_path / "orderbridge.toml"),
            timing=FAST_TIMING,
        )
        stop = asyncio.Event()
        task = asyncio.create_task(service.run(stop))
        try:
            created: dict[str, list[str]] = {}
            for account in (FIRST, SECOND):

                async def feed_configured(account: SandboxAccount = account) -> bool:
                    # Orders created before the service configured the account's feed would never reach it.
                    stats = (await admin.get("/_sandbox/stats", params={"account": account.name})).json()
                    return account.app_key in stats["feed"]

                await eventually(feed_configured, what=f"{account.name}'s feed configured", timeout_s=5)
                response = await admin.post(
                    "/_sandbox/orders", params={"account": account.name}, json={"count": ORDERS_PER_ACCOUNT}
                )
                created[account.name] = response.json()["orderIds"]

            async def all_delivered() -> bool:
                for name, ids in created.items():
                    orders = (await _ledger(admin, name))["orders"]
                    if not all(orders[i]["delivered"] for i in ids):
                        return False
                return True

            await eventually(all_delivered, what="every order of both accounts delivered", timeout_s=8)
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=15)

        for name, ids in created.items():
            ledger = await _ledger(admin, name)
            assert sorted(ledger["orders"]) == sorted(ids)  # no order reached the other account
            assert [ledger["orders"][i]["start_handling"] for i in ids] == [1] * ORDERS_PER_ACCOUNT
            assert all(sum(ledger["orders"][i]["invoices"].values()) == 1 for i in ids)
            stats = (await admin.get("/_sandbox/stats", params={"account": name})).json()
            assert "401" not in str(stats["calls"])  # each account's calls came with its own keys
    assert not set(created[FIRST.name]) & set(created[SECOND.name])
