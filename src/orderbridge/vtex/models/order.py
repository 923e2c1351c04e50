"""Get order: a tolerant, typed view of the order document, with the raw document kept as sent.

Only the fields the pipeline reads are typed. The document itself stays available, unchanged: as
``order.raw`` (a dict) and ``order.raw_json`` (the response body, for storage). A model validated from
a dict also keeps its untyped fields in ``model_extra``; one read from the body (``from_json``, what
the client does) skips them and leaves them to ``raw``.
"""

from __future__ import annotations

from typing import Annotated, Any, Self

import orjson
from pydantic import (
    AliasChoices,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
)

from .base import Cents, LenientDatetime, VtexResponse, list_or_empty


def _camel_keys(value: Any) -> Any:
    """``{"Reason": ...}`` and ``{"reason": ...}`` read alike (VTEX uses both for cancellation data)."""
    if isinstance(value, dict):
        return {(k[:1].lower() + k[1:]) if isinstance(k, str) else k: v for k, v in value.items()}
    return value


CamelKeys = BeforeValidator(_camel_keys)


class Total(VtexResponse):
    id: str | None = None
    name: str | None = None
    value: Cents = 0


class OrderItem(VtexResponse):
    id: str
    """The SKU id."""
    unique_id: str | None = None
    product_id: str | None = None
    ref_id: str | None = None
    ean: str | None = None
    name: str | None = None
    quantity: int = 0
    seller: str | None = None
    price: Cents | None = None
    list_price: Cents | None = None
    selling_price: Cents | None = None
    measurement_unit: str | None = None
    unit_multiplier: float | None = None
    is_gift: bool | None = None


class PackageItem(VtexResponse):
    item_index: int | None = None
    quantity: int = 0
    price: Cents | None = None
    description: str | None = None
    unit_multiplier: float | None = None


class CourierStatus(VtexResponse):
    status: str | None = None
    finished: bool | None = None
    delivered_date: LenientDatetime = None
    data: Annotated[list[dict[str, Any]], list_or_empty()] = Field(default_factory=list)


class Package(VtexResponse):
    """One invoice (``Output`` sale or ``Input`` return) as Get order shows it."""

    invoice_number: str | None = None
    invoice_value: Cents | None = None
    type: str | None = None
    issuance_date: LenientDatetime = None
    invoice_key: str | None = None
    invoice_url: str | None = None
    courier: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None
    items: Annotated[list[PackageItem], list_or_empty()] = Field(default_factory=list)
    courier_status: CourierStatus | None = None


class PackageAttachment(VtexResponse):
    packages: Annotated[list[Package], list_or_empty()] = Field(default_factory=list)


class CancellationData(VtexResponse):
    requested_by_user: bool | None = None
    requested_by_system: bool | None = None
    requested_by_seller_notification: bool | None = None
    requested_by_payment_notification: bool | None = None
    reason: str | None = None
    cancellation_date: LenientDatetime = None
    cancellation_request_id: str | None = None


class CancellationRequest(VtexResponse):
    id: str | None = None
    reason: str | None = None
    cancellation_request_date: LenientDatetime = None
    requested_by_user: bool | None = None
    denied_by_seller: bool | None = None
    denied_by_seller_reason: str | None = None
    cancellation_request_deny_date: LenientDatetime = None


class ChangeItem(VtexResponse):
    id: str | None = None
    name: str | None = None
    quantity: int = 0
    price: Cents | None = None
    unit_multiplier: float | None = None


class ChangeReceipt(VtexResponse):
    date: str | None = None
    order_id: str | None = None
    receipt: str | None = None


class ChangeData(VtexResponse):
    reason: str | None = None
    discount_value: Cents = 0
    increment_value: Cents = 0
    items_added: Annotated[list[ChangeItem], list_or_empty()] = Field(default_factory=list)
    items_removed: Annotated[list[ChangeItem], list_or_empty()] = Field(default_factory=list)
    receipt: ChangeReceipt | None = None


class ChangesAttachment(VtexResponse):
    id: str | None = None
    changes_data: Annotated[list[ChangeData], list_or_empty()] = Field(default_factory=list)


class Seller(VtexResponse):
    id: str | None = None
    name: str | None = None


class Order(VtexResponse):
    """A Get order document. ``status`` may be ``""`` or None (incomplete order: flow not started)."""

    order_id: str
    sequence: str | None = None
    status: str | None = None
    status_description: str | None = None
    value: Cents = 0
    creation_date: LenientDatetime = None
    last_change: LenientDatetime = None
    authorized_date: LenientDatetime = None
    invoiced_date: LenientDatetime = None
    order_group: str | None = None
    origin: str | None = None
    sales_channel: str | None = None
    affiliate_id: str | None = None
    marketplace_order_id: str | None = None
    seller_order_id: str | None = None
    is_completed: bool | None = None
    workflow_is_in_error: bool | None = None
    allow_cancellation: bool | None = None
    cancel_reason: str | None = None
    items: Annotated[list[OrderItem], list_or_empty()] = Field(default_factory=list)
    totals: Annotated[list[Total], list_or_empty()] = Field(default_factory=list)
    sellers: Annotated[list[Seller], list_or_empty()] = Field(default_factory=list)
    package_attachment: PackageAttachment | None = None
    cancellation_data: Annotated[CancellationData | None, CamelKeys] = Field(
        default=None,
        validation_alias=AliasChoices("cancellationData", "CancellationData", "cancellation_data"),
    )
    cancellation_requests: Annotated[list[CancellationRequest], list_or_empty()] = Field(default_factory=list)
    changes_attachment: ChangesAttachment | None = None
    # VTEX's exact text (7 fractional digits): it orders changes and keys dedupe without rounding.
    last_change_text: Any = Field(default=None, validation_alias="lastChange", exclude=True)
    creation_date_text: Any = Field(default=None, validation_alias="creationDate", exclude=True)

    _raw: dict[str, Any] | None = PrivateAttr(default=None)
    _raw_json: bytes | None = PrivateAttr(default=None)

    @classmethod
    def model_validate(cls, obj: Any, **options: Any) -> Self:
        """Validate a Get order document; ``raw`` is then ``obj`` itself (not copied, not altered).

        Not a wrap validator plus a custom ``__init__`` (which tell a document from a model built in
        code): a custom ``__init__`` makes pydantic route every validation through Python keyword
        arguments, which doubled the cost of reading an order."""
        order = super().model_validate(obj, **options)
        if isinstance(obj, dict):
            order._raw = obj
        return order

    @classmethod
    def from_json(cls, content: bytes) -> Order:
        """Validate a Get order response body; ``raw_json`` is ``content`` itself, ``raw`` its decoding
        (done on first use only).

        The typed fields are read straight from the JSON text, and the rest of the document (most of
        it: addresses, payments, logistics) is skipped rather than built as Python objects, so
        unknown fields are found in ``raw``, not in ``model_extra``."""
        order = _OrderFromJson.model_validate_json(content)
        order._raw_json = content
        return order

    @classmethod
    def from_raw(cls, doc: dict[str, Any]) -> Order:
        """Validate a Get order response; ``raw`` is ``doc`` itself (not copied, not altered)."""
        return cls.model_validate(doc)

    @property
    def raw(self) -> dict[str, Any]:
        """The document exactly as VTEX sent it (for a model built in code: its VTEX-shaped dump)."""
        if self._raw is None:
            if self._raw_json is not None:
                self._raw = orjson.loads(self._raw_json)
            else:
                self._raw = self.model_dump(mode="json", by_alias=True)
        return self._raw

    @property
    def raw_json(self) -> bytes:
        """``raw`` as JSON text: the response body itself when read by ``from_json``."""
        if self._raw_json is None:
            self._raw_json = orjson.dumps(self.raw)
        return self._raw_json

    @property
    def packages(self) -> list[Package]:
        return self.package_attachment.packages if self.package_attachment else []

    def invoiced_cents(self, invoice_type: str = "Output") -> int:
        """Sum of ``invoice_value`` over the packages of one type (``Output`` sales by default)."""
        return sum(p.invoice_value or 0 for p in self.packages if p.type == invoice_type)


class _OrderFromJson(Order):
    """`Order.from_json`'s reading: the same fields, the rest of the document skipped (it stays in
    ``raw_json``)."""

    model_config = ConfigDict(extra="ignore")
