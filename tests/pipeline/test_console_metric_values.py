"""The values `/metrics` reports for jobs, ERP commands, hook deliveries and VTEX's Retry-After: each
driven a few times in-process, then read back from a scrape as Prometheus would."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from orderbridge.metrics import observe_vtex_call
from orderbridge.pipeline.deps import HOOK_SECRET_HEADER, RELAY_COMMAND, AccountPolicy, lock_of
from orderbridge.store import repo
from orderbridge.vtex import VtexClient
from orderbridge.vtex.errors import RateLimited

from .conftest import ACCOUNT, Harness, HarnessFactory
from .job_states import set_status
from .test_console_metrics import _samples, _scrape, _value

SECRET = "metric-values-secret"


def _notification(order_id: str) -> dict[str, Any]:
    return {
        "Domain": "Fulfillment",
        "OrderId": order_id,
        "State": "ready-for-handling",
        "LastState": "window-to-cancel",
        "LastChange": "2026-11-27T10:00:00.0000000Z",
        "CurrentChange": "2026-11-27T10:00:01.0000000Z",
        "Origin": {"Account": ACCOUNT, "Key": "vtexappkey-shop"},
    }


async def _deliver_hooks(harness: Harness, order_ids: list[str], *, unauthorized: int) -> None:
    transport = httpx2.ASGITransport(app=harness.api)
    async with httpx2.AsyncClient(transport=transport, base_url="http://ob.test") as api:
        for order_id in order_ids:
            answer = await api.post(
                f"/hooks/vtex/{ACCOUNT}", json=_notification(order_id), headers={HOOK_SECRET_HEADER: SECRET}
            )
            assert answer.status_code == 200, answer.text
        for _ in range(unauthorized):
            refused = await api.post(
                f"/hooks/vtex/{ACCOUNT}", json=_notification("x"), headers={HOOK_SECRET_HEADER: "wrong"}
            )
            assert refused.status_code == 401


async def _commands(harness: Harness) -> None:
    """Three invoices (one confirmed by VTEX, one rejected) and one tracking number, still pending."""
    with harness.db.begin() as session:
        invoices = [
            repo.add_command(session, ACCOUNT, "o1", {"kind": "invoice", "invoice_number": f"NF-{n}"}, "rest")
            for n in range(3)
        ]
        repo.add_command(session, ACCOUNT, "o1", {"kind": "tracking_number"}, "rest")
        repo.set_command_status(session, invoices[1], "confirmed")
        repo.set_command_status(session, invoices[2], "rejected", error="VTEX refused it")


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_metrics_count_jobs_by_kind_and_state_and_erp_commands_by_kind_and_outcome(
    make_harness: HarnessFactory, database: str
) -> None:
    policy = AccountPolicy(ACCOUNT, intake="hook", hook_secret=SECRET)
    harness = await make_harness(policy=policy, database=database, start=False)
    await _deliver_hooks(harness, ["o1", "o2", "o3"], unauthorized=0)  # three syncs enqueued
    with harness.db.begin() as session:
        relay = {"kind": RELAY_COMMAND, "lock": lock_of(ACCOUNT, "o1"), "payload": {}}
        harness.pipeline.queue.enqueue(session, **relay)
    with harness.db.begin() as session:
        set_status(session, "parked", kind=RELAY_COMMAND)
        set_status(session, "done", lock=lock_of(ACCOUNT, "o1"), not_kind=RELAY_COMMAND)
    await _commands(harness)

    _, text = await _scrape(harness)

    samples = _samples(text)
    assert _value(samples, "orderbridge_jobs", kind="sync_order", state="ready") == 2
    assert _value(samples, "orderbridge_jobs", kind="sync_order", state="done") == 1
    assert _value(samples, "orderbridge_jobs", kind="relay_command", state="parked") == 1
    assert {labels for name, labels in samples if name == "orderbridge_jobs"} == {
        frozenset({("kind", "sync_order"), ("state", s)}) for s in ("ready", "done")
    } | {frozenset({("kind", "relay_command"), ("state", "parked")})}

    def commands(kind: str, outcome: str) -> float:
        return _value(samples, "orderbridge_erp_commands", account=ACCOUNT, kind=kind, outcome=outcome)

    assert commands("invoice", "pending") == 1
    assert commands("invoice", "confirmed") == 1
    assert commands("invoice", "rejected") == 1
    assert commands("tracking_number", "pending") == 1


class RateLimitedVtex:
    """Answers every request 429 with the next of `waits` as its Retry-After (seconds)."""

    def __init__(self, waits: list[int]) -> None:
        self.waits = waits

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"application/json"), (b"retry-after", str(self.waits.pop(0)).encode())]
        await send({"type": "http.response.start", "status": 429, "headers": headers})
        await send({"type": "http.response.body", "body": b'{"error": {"message": "Too Many Requests"}}'})


async def test_metrics_count_hook_deliveries_by_status_and_the_seconds_vtex_asked_to_wait(
    make_harness: HarnessFactory,
) -> None:
    policy = AccountPolicy(ACCOUNT, intake="hook", hook_secret=SECRET)
    harness = await make_harness(policy=policy, start=False)
    # The counters belong to the process (other tests count too): compare with a scrape before.
    before = _samples((await _scrape(harness))[1])
    # Its own account name: this client's series start from nothing. Waits longer than the client
    # sleeps through (5 s): each 429 ends the call at once, with the wait for the caller to honour.
    limited = "retry-after-metrics-shop"
    client = VtexClient(
        limited,
        "key",
        "token",
        base_url="http://vtex.test",
        transport=httpx2.ASGITransport(app=RateLimitedVtex([30, 45])),
        observer=observe_vtex_call,
    )
    for order_id in ("o1", "o2"):
        with pytest.raises(RateLimited):
            await client.get_order(order_id)
    await client.aclose()
    await _deliver_hooks(harness, ["o1", "o2"], unauthorized=1)

    after = _samples((await _scrape(harness))[1])

    def delta(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert delta("orderbridge_hook_deliveries_total", account=ACCOUNT, status="200") == 2
    assert delta("orderbridge_hook_deliveries_total", account=ACCOUNT, status="401") == 1
    assert _value(after, "orderbridge_vtex_rate_limited_total", account=limited) == 2
    assert _value(after, "orderbridge_vtex_retry_after_seconds_total", account=limited) == 75
    get_order = "GET /api/oms/pvt/orders/{order_id}"
    assert (
        _value(after, "orderbridge_vtex_requests_total", account=limited, endpoint=get_order, status="429")
        == 2
    )
