"""`ErpChannel`: an ERP failure becomes a retry that never exhausts the job, waiting as long as the ERP
asked (`Retry-After`) or a backoff that grows with the failures in a row; health changes are reported
once per transition."""

from __future__ import annotations

import pytest

from orderbridge.erp.errors import ErpUnavailable
from orderbridge.erp.port import CancellationDecision, CommandSink, HandoverOrder, HandoverResult
from orderbridge.jobs.errors import RetryLater
from orderbridge.pipeline.erp_health import ChannelState, ErpChannel, LookupErpChannel, channel_of


class FlakyErp:
    name = "flaky"

    def __init__(self) -> None:
        self.failure: ErpUnavailable | None = ErpUnavailable("HTTP 503")

    async def start(self, sink: CommandSink) -> None: ...

    async def stop(self) -> None: ...

    async def hand_over(self, order: HandoverOrder) -> HandoverResult:
        raise NotImplementedError

    async def notify_canceled(self, account: str, order_id: str, reason: str | None) -> None:
        if self.failure is not None:
            raise self.failure

    async def request_cancellation(
        self, account: str, order_id: str, request_id: str | None, reason: str | None
    ) -> CancellationDecision | None:
        return None


async def test_failures_are_retries_that_give_the_attempt_back_and_health_changes_are_reported_once() -> None:
    erp = FlakyErp()
    reports: list[ChannelState] = []

    async def report(state: ChannelState) -> None:
        reports.append(state)

    channel = channel_of(erp, unhealthy_after=3, backoff=lambda failures: float(failures))
    channel.report = report
    assert not isinstance(channel, LookupErpChannel)
    delays = []
    for _ in range(5):
        with pytest.raises(RetryLater) as raised:
            await channel.notify_canceled("a", "o", None)
        assert raised.value.count_attempt is False
        delays.append(raised.value.delay_s)
    assert delays == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert [(r.healthy, r.consecutive_failures) for r in reports] == [(False, 3)]

    erp.failure = ErpUnavailable("HTTP 429", retry_after_s=42.0)
    with pytest.raises(RetryLater) as raised:
        await channel.notify_canceled("a", "o", None)
    assert raised.value.delay_s == 42.0

    erp.failure = None
    await channel.notify_canceled("a", "o", None)
    await channel.notify_canceled("a", "o", None)
    assert [(r.healthy, r.consecutive_failures) for r in reports] == [(False, 3), (True, 0)]
    assert isinstance(channel, ErpChannel) and channel.healthy
