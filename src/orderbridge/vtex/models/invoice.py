"""Invoice, tracking number and tracking events: what the ERP's outcome becomes at VTEX."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, field_serializer

from .base import VtexRequest


class InvoiceItem(VtexRequest):
    id: str
    """The SKU id."""
    price: int
    """Unit price in cents — VTEX multiplies it by ``quantity``."""
    quantity: int = Field(ge=1)
    description: str | None = None


class Invoice(VtexRequest):
    """``POST /api/oms/pvt/orders/{orderId}/invoice``. ``Output`` is a sale, ``Input`` a return.

    ``invoice_value`` is integer cents here and is sent as VTEX documents it: a string of cents.
    The tracking fields default to ``""``, which is what VTEX asks for when only the invoice is sent.
    The invoice number is checked by ``VtexClient.send_invoice`` (``InvalidInvoiceNumber``, before
    any request) and by ``check_invoice_number`` wherever ERP commands are accepted.
    """

    omit_none = True

    type: Literal["Output", "Input"] = "Output"
    issuance_date: datetime
    invoice_number: str
    invoice_value: int = Field(gt=0)
    items: list[InvoiceItem] = Field(min_length=1)
    invoice_key: str | None = None
    invoice_url: str | None = None
    embedded_invoice: str | None = None
    courier: str = ""
    tracking_number: str = ""
    tracking_url: str = ""
    dispatched_date: datetime | None = None

    @field_serializer("invoice_value")
    def _cents_as_string(self, value: int) -> str:
        return str(value)


class TrackingNumberPatch(VtexRequest):
    """``PATCH .../invoice/{invoiceNumber}``: add the tracking number to an existing invoice."""

    tracking_number: str
    tracking_url: str | None = None
    courier: str | None = None
    dispatched_date: datetime | None = None


class TrackingEvent(VtexRequest):
    city: str
    state: str
    description: str
    date: str
    """As VTEX's examples send it: ``"2015-06-23"`` or ``"yyyy-mm-dd hh:mm"``."""


class TrackingEvents(VtexRequest):
    """``PUT .../invoice/{invoiceNumber}/tracking``; only for invoices that have a tracking number."""

    is_delivered: bool = False
    delivered_date: str | None = None
    events: list[TrackingEvent] = Field(default_factory=list)
