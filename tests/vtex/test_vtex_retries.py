"""5xx, timeouts and connection failures: what is retried, what is not, and what the error says."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import httpx2
import pytest
from vtex_stub import APP_KEY, APP_TOKEN, ClientFactory, FailingFirst, Reply, Sleeps, StubVtex

from orderbridge.vtex import (
    ChangeV2Request,
    Invoice,
    InvoiceItem,
    RetryPolicy,
    TrackingEvents,
    Unavailable,
    VtexClient,
)

ORDER_PATH = "/api/oms/pvt/orders/1001-01"
INVOICE_PATH = "/api/oms/pvt/orders/1001-01/invoice"
RECEIPT = {"date": "2026-11-27T10:00:00.0000000+00:00", "orderId": "1001-01", "receipt": "abc"}


def an_invoice() -> Invoice:
    return Invoice(
        issuance_date=datetime(2026, 11, 27, tzinfo=UTC),
        invoice_number="NF1001",
        invoice_value=2499,
        items=[InvoiceItem(id="123", price=2499, quantity=1)],
    )


async def test_get_order_is_retried_after_a_500_and_succeeds(
    client: VtexClient, stub: StubVtex, sleeps: Sleeps
) -> None:
    stub.reply("GET", ORDER_PATH, Reply(500), Reply(json={"orderId": "1001-01", "status": "handling"}))

    order = await client.get_order("1001-01")

    assert order.status == "handling"
    assert len(stub.calls("GET", ORDER_PATH)) == 2
    assert sleeps.calls == [0.1]


async def test_get_order_gives_up_after_the_configured_attempts(
    client: VtexClient, stub: StubVtex, sleeps: Sleeps
) -> None:
    stub.reply("GET", ORDER_PATH, Reply(503, json={"error": {"code": "X", "message": "busy"}}))

    with pytest.raises(Unavailable) as caught:
        await client.get_order("1001-01")

    assert caught.value.status == 503
    assert caught.value.may_have_landed is False
    assert len(stub.calls("GET", ORDER_PATH)) == 4
    assert sleeps.calls == [0.1, 0.2, 0.4], "exponential backoff between the four attempts"


async def test_invoice_is_not_resent_after_a_500_and_says_it_may_have_landed(
    client: VtexClient, stub: StubVtex, sleeps: Sleeps
) -> None:
    stub.reply("POST", INVOICE_PATH, Reply(500), Reply(json=RECEIPT))

    with pytest.raises(Unavailable) as caught:
        await client.send_invoice("1001-01", an_invoice())

    assert caught.value.may_have_landed is True
    assert "may have landed" in str(caught.value)
    assert (caught.value.method, caught.value.path, caught.value.status) == ("POST", INVOICE_PATH, 500)
    assert len(stub.calls("POST", INVOICE_PATH)) == 1
    assert sleeps.calls == []


async def test_start_handling_is_not_resent_after_a_timeout(
    make_client: ClientFactory, stub: StubVtex
) -> None:
    path = "/api/oms/pvt/orders/1001-01/start-handling"
    stub.reply("POST", path, Reply(204, delay_s=2.0))
    client = make_client(timeout_s=0.05)

    with pytest.raises(Unavailable) as caught:
        await client.start_handling("1001-01")

    assert caught.value.may_have_landed is True
    assert caught.value.status is None
    assert len(stub.calls("POST", path)) == 1


async def test_a_get_that_times_out_is_retried(make_client: ClientFactory, stub: StubVtex) -> None:
    stub.reply("GET", ORDER_PATH, Reply(200, delay_s=2.0), Reply(json={"orderId": "1001-01"}))
    client = make_client(timeout_s=0.05)

    order = await client.get_order("1001-01")

    assert order.order_id == "1001-01"
    assert len(stub.calls("GET", ORDER_PATH)) == 2


async def test_a_post_refused_before_it_was_sent_is_retried_safely(
    make_client: ClientFactory, stub: StubVtex
) -> None:
    stub.reply("POST", INVOICE_PATH, Reply(json=RECEIPT))
    flaky = FailingFirst(httpx2.ASGITransport(stub.app), httpx2.ConnectError("refused"))
    client = make_client(transport=flaky)

    receipt = await client.send_invoice("1001-01", an_invoice())

    assert receipt.receipt == "abc"
    assert len(stub.calls("POST", INVOICE_PATH)) == 1


async def test_a_post_whose_connection_dropped_after_sending_is_not_retried(
    make_client: ClientFactory, stub: StubVtex
) -> None:
    stub.reply("POST", INVOICE_PATH, Reply(json=RECEIPT))
    flaky = FailingFirst(httpx2.ASGITransport(stub.app), httpx2.ReadError("connection reset"))
    client = make_client(transport=flaky)

    with pytest.raises(Unavailable) as caught:
        await client.send_invoice("1001-01", an_invoice())

    assert caught.value.may_have_landed is True
    assert caught.value.message == "ReadError"
    assert stub.calls("POST", INVOICE_PATH) == []


async def test_connection_refused_on_every_attempt_says_the_request_never_landed(sleeps: Sleeps) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The port is closed again: nothing listens there.
    async with VtexClient(
        "stubstore",
        APP_KEY,
        APP_TOKEN,
        base_url=f"http://127.0.0.1:{port}",
        retry=RetryPolicy(attempts=3, rng=lambda low, high: high),
        sleep=sleeps,
    ) as client:
        with pytest.raises(Unavailable) as caught:
            await client.send_invoice("1001-01", an_invoice())

    assert caught.value.may_have_landed is False
    assert caught.value.message == "ConnectError"
    assert len(sleeps.calls) == 2, "three attempts, two backoffs"


async def test_feed_commit_is_retried_after_a_502_because_it_is_idempotent(
    client: VtexClient, stub: StubVtex
) -> None:
    stub.reply("POST", "/api/orders/feed", Reply(502), Reply(200))

    await client.commit_feed(["h1", "h2"])

    calls = stub.calls("POST", "/api/orders/feed")
    assert [c.body for c in calls] == [{"handles": ["h1", "h2"]}] * 2


async def test_tracking_events_put_is_retried_after_a_503(client: VtexClient, stub: StubVtex) -> None:
    path = "/api/oms/pvt/orders/1001-01/invoice/NF1001/tracking"
    stub.reply("PUT", path, Reply(503), Reply(json=RECEIPT))

    receipt = await client.send_tracking_events("1001-01", "NF1001", TrackingEvents(is_delivered=True))

    assert receipt.receipt == "abc"
    assert len(stub.calls("PUT", path)) == 2


async def test_change_v2_patch_is_not_retried_because_it_creates_a_change(
    client: VtexClient, stub: StubVtex
) -> None:
    path = "/api/order-system/orders/1001-01/changes"
    stub.reply("PATCH", path, Reply(500), Reply(202, json={"requestId": "r1"}))

    with pytest.raises(Unavailable) as caught:
        await client.send_change_v2("1001-01", ChangeV2Request(reason="shortage"))

    assert caught.value.may_have_landed is True
    assert len(stub.calls("PATCH", path)) == 1


def test_backoff_draws_full_jitter_below_an_exponential_cap() -> None:
    draws: list[tuple[float, float]] = []

    def record(low: float, high: float) -> float:
        draws.append((low, high))
        return low

    policy = RetryPolicy(base_delay_s=0.5, max_delay_s=3.0, rng=record)
    delays = [policy.backoff_s(n) for n in range(1, 6)]

    assert delays == [0.0] * 5
    assert draws == [(0.0, 0.5), (0.0, 1.0), (0.0, 2.0), (0.0, 3.0), (0.0, 3.0)]


async def test_a_put_that_may_have_reached_vtex_once_says_so_even_if_later_attempts_were_refused(
    make_client: ClientFactory, stub: StubVtex
) -> None:
    flaky = FailingFirst(
        httpx2.ASGITransport(stub.app),
        httpx2.ReadError("reset after sending"),
        httpx2.ConnectError("refused"),
        httpx2.ConnectError("refused"),
        httpx2.ConnectError("refused"),
    )
    client = make_client(transport=flaky)

    with pytest.raises(Unavailable) as caught:
        await client.send_tracking_events("1001-01", "NF1001", TrackingEvents())

    assert caught.value.may_have_landed is True
    assert caught.value.message == "ConnectError"
