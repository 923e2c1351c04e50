"""Cancel an order, or deny a customer's cancellation request."""

from __future__ import annotations

from .base import VtexRequest


class CancelRequest(VtexRequest):
    """``POST .../cancel``. ``requestedByUser`` is documented in VTEX's cancellation guide only."""

    reason: str
    requested_by_user: bool = False


class DenyCancellationRequest(VtexRequest):
    """``POST /api/orders/pvt/document/{orderId}/deny-cancellation-request``."""

    cancellation_request_id: str
    deny_reason: str
