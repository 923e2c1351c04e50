"""429: short waits are slept inside the call, long ones become RateLimited for the caller."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from vtex_stub import ClientFactory, Reply, Sleeps, StubVtex

from orderbridge.vtex import RateLimited, VtexClient, parse_retry_after, retry_after_rescheduled

ORDER_PATH = "/api/oms/pvt/orders/1001-01"
START_PATH = "/api/oms/pvt/orders/1001-01/start-handling"
ORDER = {"orderId": "1001-01", "status": "ready-for-handling"}
TOO_MANY = {"error": {"code": "429", "message": "Too many requests", "exception": None}}


async def test_a_short_retry_after_is_slept_and_the_call_repeated(
    client: VtexClient, stub: StubVtex, sleeps: Sleeps
) -> None:
    stub.reply("GET", ORDER_PATH, Reply(429, json=TOO_MANY, headers={"Retry-After": "2"}), Reply(json=ORDER))

    order = await client.get_order("1001-01")

    assert order.status == "ready-for-handling"
    assert sleeps.calls == [2.0]
    assert len(stub.calls("GET", ORDER_PATH)) == 2


async def test_a_429_on_a_non_idempotent_post_is_also_repeated_because_it_was_not_processed(
    client: VtexClient, stub: StubVtex, sleeps: Sleeps
) -> None:
    stub.reply("POST", START_PATH, Reply(429, headers={"Retry-After": "1"}), Reply(204))

    await client.start_handling("1001-01")

    assert sleeps.calls == [1.0]
    assert len(stub.calls("POST", START_PATH)) == 2


async def test_a_long_retry_after_raises_rate_limited_without_sleeping(
    client: VtexClient, stub: StubVtex, sleeps: Sleeps
) -> None:
    stub.reply("GET", ORDER_PATH, Reply(429, json=TOO_MANY, headers={"Retry-After": "30"}))

    with pytest.raises(RateLimited) as caught:
        await client.get_order("1001-01")

    assert caught.value.retry_after == 30.0
    assert caught.value.status == 429
    assert caught.value.message == "Too many requests"
    assert sleeps.calls == []
    assert len(stub.calls("GET", ORDER_PATH)) == 1


async def test_a_429_without_retry_after_asks_the_caller_to_wait_a_minute(
    client: VtexClient, stub: StubVtex, sleeps: Sleeps
) -> None:
    stub.reply("GET", ORDER_PATH, Reply(429))

    with pytest.raises(RateLimited) as caught:
        await client.get_order("1001-01")

    assert caught.value.retry_after == 60.0
    assert sleeps.calls == []


async def test_an_http_date_retry_after_is_understood(
    client: VtexClient, stub: StubVtex, sleeps: Sleeps
) -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(minutes=10), usegmt=True)
    stub.reply("GET", ORDER_PATH, Reply(429, headers={"Retry-After": later}))

    with pytest.raises(RateLimited) as caught:
        await client.get_order("1001-01")

    assert 590 <= caught.value.retry_after <= 600


async def test_429s_that_keep_coming_end_as_rate_limited_after_a_few_short_waits(
    client: VtexClient, stub: StubVtex, sleeps: Sleeps
) -> None:
    stub.reply("GET", ORDER_PATH, Reply(429, headers={"Retry-After": "1"}))

    with pytest.raises(RateLimited) as caught:
        await client.get_order("1001-01")

    assert sleeps.calls == [1.0, 1.0, 1.0]
    assert len(stub.calls("GET", ORDER_PATH)) == 4
    assert caught.value.retry_after == 1.0


async def test_the_short_wait_limit_is_configurable_per_client(
    make_client: ClientFactory, stub: StubVtex, sleeps: Sleeps
) -> None:
    stub.reply("GET", ORDER_PATH, Reply(429, headers={"Retry-After": "2"}), Reply(json=ORDER))
    client = make_client(retry=None, max_short_wait_s=1.0)

    with pytest.raises(RateLimited):
        await client.get_order("1001-01")

    assert sleeps.calls == []


async def test_inside_retry_after_rescheduled_even_a_short_retry_after_is_left_to_the_caller(
    client: VtexClient, stub: StubVtex, sleeps: Sleeps
) -> None:
    stub.reply("GET", ORDER_PATH, Reply(429, json=TOO_MANY, headers={"Retry-After": "2"}), Reply(json=ORDER))

    with retry_after_rescheduled(), pytest.raises(RateLimited) as caught:
        await client.get_order("1001-01")

    assert caught.value.retry_after == 2.0
    assert sleeps.calls == []
    assert len(stub.calls("GET", ORDER_PATH)) == 1
    assert (await client.get_order("1001-01")).status == "ready-for-handling"  # outside: as before


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("2", 2.0),
        (" 1.5 ", 1.5),
        ("0", 0.0),
        ("-3", 0.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("nan", None),
        ("Wed, 21 Oct 2026 07:28:00 GMT", 60.0),
        ("Wed, 21 Oct 2026 07:26:00 GMT", 0.0),
    ],
)
def test_retry_after_is_read_as_seconds_or_http_date(header: str | None, expected: float | None) -> None:
    now = datetime(2026, 10, 21, 7, 27, tzinfo=UTC)
    assert parse_retry_after(header, now=now) == expected
