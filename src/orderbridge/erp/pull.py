"""The `rest` ERP adapter: pull-only. The pipeline hands nothing out; the ERP reads through the REST API.

For an ERP that only polls: no webhook to receive, no tables or folders to share. Each order ready for
the ERP is "handed over" by being listed, without any call out:

- `hand_over` answers `AcceptanceLater` at once: the order waits in pipeline state `awaiting_erp` until
  the ERP lists it (`GET /api/v1/orders?pipelineState=awaiting_erp`) and answers
  `POST /api/v1/orders/{orderId}/acceptance`. Nothing is retried and nothing times out: an order is never
  parked because nobody answered (the dashboard calls it stuck after `[api.stuck] awaiting_erp_min`).
- `notify_canceled` has nobody to tell: the ERP sees the order in `pipelineState=canceled`.
- `request_cancellation` answers None: the ERP decides later through the API (`POST …/cancellation` or
  `…/cancellation-request/deny`), the order listed in `pipelineState=cancellation_asked`. For an order
  the ERP has not accepted, the account's `cancellation_before_acceptance` applies first (by default the
  request is accepted without asking).

The commands come back through the REST API like any ERP's; this adapter has no background work.
"""

from __future__ import annotations

import structlog

from orderbridge.erp.port import (
    AcceptanceLater,
    CancellationDecision,
    CommandSink,
    HandoverOrder,
    HandoverResult,
)

log = structlog.get_logger("orderbridge.erp.pull")


class PullOnlyErp:
    """`ErpAdapter` for `[erp] adapter = "rest"`: every answer comes later, through the REST API."""

    name = "rest"

    async def start(self, sink: CommandSink) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def hand_over(self, order: HandoverOrder) -> HandoverResult:
        return AcceptanceLater()

    async def notify_canceled(self, account: str, order_id: str, reason: str | None) -> None:
        log.info("erp_sees_cancellation_by_listing", account=account, order_id=order_id)

    async def request_cancellation(
        self, account: str, order_id: str, request_id: str | None, reason: str | None
    ) -> CancellationDecision | None:
        return None
