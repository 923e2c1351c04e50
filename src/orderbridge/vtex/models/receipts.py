"""VTEX's acknowledgement of a write: ``{date, orderId, receipt}``."""

from __future__ import annotations

from .base import VtexResponse


class Receipt(VtexResponse):
    """Answer to invoice, cancel, Change v1, tracking-number and tracking-event calls.

    ``date`` stays the exact string VTEX sent; ``receipt`` "may be null" for cancellations. Calls
    that answer with no body (e.g. a 204) give an empty receipt.
    """

    date: str | None = None
    order_id: str | None = None
    receipt: str | None = None
