"""The webhook adapter against a real HTTP server on 127.0.0.1 that verifies the HMAC signature."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx2
import pytest

from orderbridge.core.orders import OrderItem, OrderSnapshot
from orderbridge.erp.errors import ErpUnavailable
from orderbridge.erp.port import AcceptanceLater, Accepted, CancellationDecision, HandoverOrder, Rejected
from orderbridge.erp.webhook import WebhookConfig, WebhookErp, sign, verify_signature

from .fake_erp_server import FakeErp, Reply, fake_erp_server

SECRET = "whsec-test-0123456789"
ORDER = HandoverOrder(
    account="acme",
    order_id="1001-01",
    snapshot=OrderSnapshot(
        order_id="1001-01",
        status="ready-for-handling",
        value_cents=12000,
        items=(OrderItem(0, "sku-1", "Shirt", 2, 5000),),
    ),
    document={"orderId": "1001-01", "value": 12000},
)


class NoSink:
    async def submit(self, *args: object, **kwargs: object) -> object:
        raise AssertionError("the webhook adapter never submits by itself")

    async def report_acceptance(self, *args: object, **kwargs: object) -> None:
        raise AssertionError

    async def current_order(self, *args: object) -> None:
        return None


@pytest.fixture
def erp() -> Iterator[FakeErp]:
    with fake_erp_server(SECRET) as server:
        yield server


@pytest.fixture
async def adapter(erp: FakeErp) -> AsyncIterator[WebhookErp]:
    webhook = WebhookErp(WebhookConfig(url=erp.url, secret=SECRET, timeout_s=1.5))
    await webhook.start(NoSink())  # type: ignore[arg-type]
    yield webhook
    await webhook.stop()


async def test_handover_is_signed_and_carries_the_normalized_and_raw_order(
    adapter: WebhookErp, erp: FakeErp
) -> None:
    result = await adapter.hand_over(ORDER)
    assert result == Accepted(erp_reference="ERP-1")
    [delivery] = erp.deliveries
    assert delivery.signature_ok
    assert delivery.event == "order" and delivery.delivery == "acme:1001-01:order"
    assert delivery.body["order"]["value_cents"] == 12000
    assert delivery.body["raw"] == {"orderId": "1001-01", "value": 12000}


async def test_a_202_means_the_acceptance_comes_later_through_the_api(
    adapter: WebhookErp, erp: FakeErp
) -> None:
    erp.script.append(Reply(202, {}))
    assert await adapter.hand_over(ORDER) == AcceptanceLater()


@pytest.mark.parametrize("status", [409, 422])
async def test_a_409_or_422_with_a_reason_is_a_rejection_with_the_erps_reason(
    adapter: WebhookErp, erp: FakeErp, status: int
) -> None:
    erp.script.append(Reply(status, {"reason": "customer credit blocked"}))
    assert await adapter.hand_over(ORDER) == Rejected(reason="customer credit blocked")


async def test_a_2xx_saying_not_accepted_is_a_rejection(adapter: WebhookErp, erp: FakeErp) -> None:
    erp.script.append(Reply(200, {"accepted": False, "reason": "unknown customer"}))
    assert await adapter.hand_over(ORDER) == Rejected(reason="unknown customer")


# Answers that say nothing about the order: a wrong URL or secret, a proxy, an overloaded ERP.
NO_DECISION = [
    Reply(400, {"reason": "bad request"}),
    Reply(401, {"reason": "unauthorized"}),
    Reply(403, {"reason": "forbidden"}),
    Reply(404, {"reason": "no such order"}),
    Reply(405),
    Reply(407),
    Reply(408),
    Reply(410),
    Reply(429, {"reason": "slow down"}),
    Reply(500),
    Reply(503, {"reason": "down"}),
    Reply(409),  # a refusal status without the reason that makes it explicit
    Reply(422, {"error": "no reason field"}),
]


@pytest.mark.parametrize("reply", NO_DECISION, ids=lambda reply: f"{reply.status}-{bool(reply.body)}")
async def test_an_answer_that_decides_nothing_is_retried_never_a_rejection(
    adapter: WebhookErp, erp: FakeErp, reply: Reply
) -> None:
    erp.script.append(reply)
    with pytest.raises(ErpUnavailable, match=f"HTTP {reply.status}"):
        await adapter.hand_over(ORDER)


@pytest.mark.parametrize("reply", NO_DECISION, ids=lambda reply: f"{reply.status}-{bool(reply.body)}")
async def test_a_cancellation_request_answered_without_a_decision_is_retried_never_denied(
    adapter: WebhookErp, erp: FakeErp, reply: Reply
) -> None:
    erp.script.append(reply)
    with pytest.raises(ErpUnavailable, match=f"HTTP {reply.status}"):
        await adapter.request_cancellation("acme", "1001-01", "req-1", "changed mind")


async def test_a_cancellation_request_refused_with_a_reason_is_denied(
    adapter: WebhookErp, erp: FakeErp
) -> None:
    erp.script.append(Reply(409, {"reason": "already shipped"}))
    decision = await adapter.request_cancellation("acme", "1001-01", "req-1", None)
    assert decision == CancellationDecision(accept=False, reason="already shipped")


async def test_control_characters_in_an_erps_reason_never_reach_vtex(
    adapter: WebhookErp, erp: FakeErp
) -> None:
    # The denial's reason goes on to VTEX; the decision itself stays the ERP's explicit answer.
    erp.script.append(Reply(409, {"reason": "already\r\nshipped\x1b[2J"}))
    erp.script.append(Reply(200, {"accept": False, "reason": "in\ttransit\n"}))
    refused = await adapter.request_cancellation("acme", "1001-01", "req-1", None)
    denied = await adapter.request_cancellation("acme", "1001-01", "req-2", None)
    assert refused == CancellationDecision(accept=False, reason="already shipped [2J")
    assert denied == CancellationDecision(accept=False, reason="in transit")


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_on_a_throttle_or_an_outage_is_passed_on(status: int) -> None:
    def answer(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(status, headers={"Retry-After": "42"})

    webhook = WebhookErp(
        WebhookConfig(url="http://127.0.0.1:9/erp", secret=SECRET), transport=httpx2.MockTransport(answer)
    )
    await webhook.start(NoSink())  # type: ignore[arg-type]
    try:
        with pytest.raises(ErpUnavailable) as raised:
            await webhook.hand_over(ORDER)
    finally:
        await webhook.stop()
    assert raised.value.retry_after_s == 42.0


@pytest.mark.parametrize("status", [500, 503, 429, 408])
async def test_a_5xx_or_throttle_is_retryable_and_the_retry_delivers_the_same_order(
    adapter: WebhookErp, erp: FakeErp, status: int
) -> None:
    erp.script.append(Reply(status, {"reason": "down"}))
    with pytest.raises(ErpUnavailable):
        await adapter.hand_over(ORDER)
    assert isinstance(await adapter.hand_over(ORDER), Accepted)
    assert [d.delivery for d in erp.deliveries] == ["acme:1001-01:order"] * 2


async def test_a_slow_erp_is_a_timeout_that_is_retried(adapter: WebhookErp, erp: FakeErp) -> None:
    erp.script.append(Reply(200, {}, delay_s=4.0))
    with pytest.raises(ErpUnavailable, match="did not answer"):
        await adapter.hand_over(ORDER)


async def test_an_unreachable_erp_is_retryable() -> None:
    webhook = WebhookErp(WebhookConfig(url="http://127.0.0.1:9/none", secret=SECRET, timeout_s=0.5))
    await webhook.start(NoSink())  # type: ignore[arg-type]
    try:
        with pytest.raises(ErpUnavailable, match="could not be reached"):
            await webhook.hand_over(ORDER)
    finally:
        await webhook.stop()


async def test_a_wrong_secret_is_a_failure_to_retry_not_a_rejection_of_the_order(erp: FakeErp) -> None:
    webhook = WebhookErp(WebhookConfig(url=erp.url, secret="not-the-secret", timeout_s=5.0))
    await webhook.start(NoSink())  # type: ignore[arg-type]
    try:
        with pytest.raises(ErpUnavailable, match=r"HTTP 401: check \[erp\.webhook\] secret"):
            await webhook.hand_over(ORDER)
    finally:
        await webhook.stop()
    assert not erp.deliveries[0].signature_ok


async def test_cancellation_notices_and_requests_reach_the_erp(adapter: WebhookErp, erp: FakeErp) -> None:
    await adapter.notify_canceled("acme", "1001-01", "customer asked")
    erp.script += [Reply(200, {"accept": False, "reason": "already shipped"}), Reply(202, {})]
    assert await adapter.request_cancellation(
        "acme", "1001-01", "req-1", "changed mind"
    ) == CancellationDecision(accept=False, reason="already shipped")
    assert await adapter.request_cancellation("acme", "1001-01", "req-2", None) is None
    assert [d.event for d in erp.deliveries] == [
        "order-canceled",
        "cancellation-requested",
        "cancellation-requested",
    ]
    assert all(d.signature_ok for d in erp.deliveries)


def test_the_secret_never_shows_in_the_config_repr_and_signatures_verify() -> None:
    config = WebhookConfig(url="http://127.0.0.1:1/", secret=SECRET)
    assert SECRET not in repr(config)
    assert verify_signature(SECRET, b"{}", sign(SECRET, b"{}"))
    assert not verify_signature(SECRET, b"{} ", sign(SECRET, b"{}"))
    assert not verify_signature(SECRET, b"{}", None)
    assert not verify_signature(SECRET, b"{}", "garbage")


def test_the_signature_covers_a_timestamp_so_a_captured_delivery_cannot_be_replayed_later() -> None:
    signed_at = 1_800_000_000
    header = sign(SECRET, b'{"orderId": "1"}', now=signed_at)
    timestamp, _, digest = header.partition(",")
    assert timestamp == f"t={signed_at}"
    assert digest.startswith("v1=") and len(digest) == 3 + 64
    assert verify_signature(SECRET, b'{"orderId": "1"}', header, now=signed_at + 299)
    assert not verify_signature(SECRET, b'{"orderId": "1"}', header, now=signed_at + 301), "replayed late"
    assert not verify_signature(SECRET, b'{"orderId": "1"}', header, now=signed_at - 301), "from the future"
    forged_time = f"t={signed_at + 600},{digest}"  # a fresh timestamp on an old signature
    assert not verify_signature(SECRET, b'{"orderId": "1"}', forged_time, now=signed_at + 600)


def test_a_webhook_adapter_refuses_to_exist_without_a_secret() -> None:
    with pytest.raises(ValueError, match="secret"):
        WebhookConfig(url="http://127.0.0.1:1/", secret="")


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, b"[" * 100_000, Accepted(erp_reference=None)),
        (422, b"<html>credit blocked</html>", ErpUnavailable),
    ],
    ids=["nested_too_deep", "not_json"],
)
async def test_an_answer_body_that_is_not_readable_json_decides_nothing_it_cannot_read(
    status: int, body: bytes, expected: object
) -> None:
    transport = httpx2.MockTransport(lambda request: httpx2.Response(status, content=body))
    webhook = WebhookErp(WebhookConfig(url="http://127.0.0.1:9/erp", secret=SECRET), transport=transport)
    await webhook.start(NoSink())  # type: ignore[arg-type]
    try:
        if expected is ErpUnavailable:  # an error page is no refusal: retried, never parked
            with pytest.raises(ErpUnavailable):
                await webhook.hand_over(ORDER)
        else:
            assert await webhook.hand_over(ORDER) == expected
    finally:
        await webhook.stop()
