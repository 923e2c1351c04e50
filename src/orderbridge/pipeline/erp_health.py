"""The ERP channel's health: failures to reach the ERP are retried and reported, never decisions.

Every call the pipeline makes to the ERP goes through `ErpChannel`. An `ErpUnavailable` (a timeout, a
5xx, a 401 from a receiver with the wrong secret…) says nothing about the order, so the order is not
parked for it: the job is retried with backoff — `Retry-After` when the ERP gave one — and the attempt
is given back, so an outage of any length never exhausts a job's retries. What an outage does need is
a person: after `unhealthy_after` failures in a row the channel is marked unhealthy, with ONE error log
line (`erp_channel_unhealthy`) for the whole outage rather than a parked order each, and one info line
(`erp_channel_recovered`) at the first success after it. The state is written to the `erp_channels`
table on each transition, so `orderbridge status` shows it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ParamSpec, TypeVar

import structlog

from orderbridge.erp.errors import ErpUnavailable
from orderbridge.erp.port import (
    CancellationDecision,
    CommandSink,
    ErpAdapter,
    HandoverOrder,
    HandoverResult,
    SupportsLookup,
)
from orderbridge.jobs.errors import RetryLater

log = structlog.get_logger("orderbridge.pipeline.erp")

P = ParamSpec("P")
T = TypeVar("T")

RETRY_AFTER_MAX_S = 3600.0  # an ERP's Retry-After is honoured up to an hour (a typo must not stall a day)


@dataclass(frozen=True)
class ChannelState:
    """What `report` is given on each transition (and once at start)."""

    name: str
    healthy: bool
    consecutive_failures: int
    last_error: str | None
    changed_at: datetime


Report = Callable[[ChannelState], Awaitable[None]]
Backoff = Callable[[int], float]


class ErpChannel:
    """An `ErpAdapter` around the configured one, counting its failures (see the module's docstring)."""

    def __init__(self, inner: ErpAdapter, *, unhealthy_after: int, backoff: Backoff) -> None:
        self.inner = inner
        self.name = inner.name
        self.unhealthy_after = max(1, unhealthy_after)
        self.backoff = backoff
        self.report: Report | None = None
        """Set by the pipeline: persists each transition (the `erp_channels` row)."""
        self.healthy = True
        self.consecutive_failures = 0
        self.last_error: str | None = None

    async def start(self, sink: CommandSink) -> None:
        await self.inner.start(sink)
        await self._report()  # a new process starts healthy: no stale alarm from the previous run

    async def stop(self) -> None:
        await self.inner.stop()

    async def hand_over(self, order: HandoverOrder) -> HandoverResult:
        return await self._call(self.inner.hand_over, order)

    async def notify_canceled(self, account: str, order_id: str, reason: str | None) -> None:
        await self._call(self.inner.notify_canceled, account, order_id, reason)

    async def request_cancellation(
        self, account: str, order_id: str, request_id: str | None, reason: str | None
    ) -> CancellationDecision | None:
        return await self._call(self.inner.request_cancellation, account, order_id, request_id, reason)

    async def _call(self, call: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        try:
            result = await call(*args, **kwargs)
        except ErpUnavailable as error:
            await self._failed(error)
            raise RetryLater(self._delay(error), f"ERP unavailable: {error}", count_attempt=False) from error
        if self.consecutive_failures:
            await self._succeeded()
        return result

    def _delay(self, error: ErpUnavailable) -> float:
        if error.retry_after_s is not None:
            return min(error.retry_after_s, RETRY_AFTER_MAX_S)
        return self.backoff(self.consecutive_failures)

    async def _failed(self, error: ErpUnavailable) -> None:
        self.consecutive_failures += 1
        self.last_error = str(error)
        if self.healthy and self.consecutive_failures >= self.unhealthy_after:
            self.healthy = False
            log.error(
                "erp_channel_unhealthy",
                channel=self.name,
                consecutive_failures=self.consecutive_failures,
                error=self.last_error,
            )
            await self._report()

    async def _succeeded(self) -> None:
        failures, self.consecutive_failures = self.consecutive_failures, 0
        if not self.healthy:
            self.healthy = True
            log.info("erp_channel_recovered", channel=self.name, failures=failures)
            await self._report()

    async def _report(self) -> None:
        if self.report is not None:
            state = ChannelState(
                self.name, self.healthy, self.consecutive_failures, self.last_error, datetime.now(UTC)
            )
            await self.report(state)


class LookupErpChannel(ErpChannel):
    """The same, for an ERP that can say what it decided (`SupportsLookup`): the lookup is a call too."""

    inner: SupportsLookup  # type: ignore[assignment]

    async def lookup(self, account: str, order_id: str) -> HandoverResult | None:
        return await self._call(self.inner.lookup, account, order_id)


def channel_of(inner: ErpAdapter, *, unhealthy_after: int, backoff: Backoff) -> ErpChannel:
    """Wrap `inner`, keeping whether it `SupportsLookup` (the pipeline's handover depends on it)."""
    cls = LookupErpChannel if isinstance(inner, SupportsLookup) else ErpChannel
    return cls(inner, unhealthy_after=unhealthy_after, backoff=backoff)
