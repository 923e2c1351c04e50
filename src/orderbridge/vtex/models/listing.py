"""List orders: an index that lags ~4 minutes; for reconciliation sweeps, never as a source of truth."""

from __future__ import annotations

from pydantic import Field

from .base import Cents, LenientDatetime, VtexResponse


class OrderSummary(VtexResponse):
    order_id: str
    sequence: str | None = None
    status: str | None = None
    status_description: str | None = None
    creation_date: LenientDatetime = None
    authorized_date: LenientDatetime = None
    total_value: Cents | None = None
    """Cents; VTEX's search index may return a float with rounding artefacts, rounded here."""
    total_items: int | None = None
    currency_code: str | None = None
    origin: str | None = None
    sales_channel: str | None = None
    workflow_in_error_state: bool | None = None
    order_is_complete: bool | None = None


class Paging(VtexResponse):
    total: int = 0
    pages: int = 0
    current_page: int = 1
    per_page: int = 15


class OrderPage(VtexResponse):
    """One page of List orders (``{"list": [...], "paging": {...}}``)."""

    orders: list[OrderSummary] = Field(default_factory=list, alias="list")
    paging: Paging = Field(default_factory=Paging)
