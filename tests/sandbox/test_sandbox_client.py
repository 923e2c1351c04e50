"""The tools' sandbox client (demo, chaos, audit) over aiohttp: answers whatever their status, failures
below HTTP as `SendFailed`."""

from __future__ import annotations

import pytest

from orderbridge.sandbox.client import SandboxStatusError, SendFailed
from orderbridge.sandbox.config import SandboxConfig
from orderbridge.sandbox.testing import SandboxServer, free_port, sandbox_client


async def test_answers_come_back_whatever_their_status_and_raise_for_status_names_a_failure() -> None:
    async with SandboxServer(SandboxConfig()) as server, sandbox_client(server.base_url, 5.0) as sandbox:
        created = await sandbox.post("/_sandbox/orders", json={"count": 2})
        missing = await sandbox.post("/_sandbox/orders/no-such-order/customer-cancel", json={})

    created.raise_for_status()
    assert len(created.json()["orderIds"]) == 2
    assert missing.status_code == 404
    with pytest.raises(SandboxStatusError, match="HTTP 404") as raised:
        missing.raise_for_status()
    assert raised.value.status == 404


async def test_a_sandbox_that_is_not_listening_is_a_send_failure_never_sent() -> None:
    async with sandbox_client(f"http://127.0.0.1:{free_port()}", 5.0) as sandbox:
        with pytest.raises(SendFailed) as raised:
            await sandbox.get("/_sandbox/stats")
    assert (raised.value.kind, raised.value.sent) == ("ConnectError", False)
