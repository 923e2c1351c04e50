"""Reading ground truth from the sandbox: a watcher that polls for an hour survives a dropped connection."""

from __future__ import annotations

import httpx2

from orderbridge.audit.gather import read_vtex
from orderbridge.sandbox.app import create_app
from orderbridge.sandbox.config import SandboxAccount, SandboxConfig


async def test_a_dropped_connection_while_reading_the_ledger_is_retried_not_fatal() -> None:
    """A chaos run polls the sandbox for an hour; one connection closed under it must not end the run."""
    calls = 0

    def answer(request: httpx2.Request) -> httpx2.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise httpx2.ReadError("connection closed by the server", request=request)
        return httpx2.Response(200, json={"orders": {"o1": {"status": "invoiced"}}, "feed_depth": 3})

    transport = httpx2.MockTransport(answer)
    async with httpx2.AsyncClient(base_url="http://sandbox", transport=transport) as client:
        orders, feed_depth = await read_vtex(client)

    assert (calls, orders["o1"].status, feed_depth) == (2, "invoiced", 3)


async def test_the_ledger_of_one_account_of_a_sandbox_serving_several_holds_only_its_orders() -> None:
    config = SandboxConfig(more_accounts=(SandboxAccount("otherstore", "key-o", "token-o"),))
    transport = httpx2.ASGITransport(app=create_app(config))
    async with httpx2.AsyncClient(base_url="http://127.0.0.1", transport=transport) as client:
        mine = (await client.post("/_sandbox/orders", json={"count": 1})).json()["orderIds"]
        theirs = (await client.post("/_sandbox/orders?account=otherstore", json={"count": 2})).json()[
            "orderIds"
        ]

        default, _ = await read_vtex(client)
        other, _ = await read_vtex(client, "otherstore")

    assert sorted(default) == sorted(mine)
    assert sorted(other) == sorted(theirs)
