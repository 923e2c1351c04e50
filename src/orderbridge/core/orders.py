"""The normalized view of a VTEX order that decisions and validations are made on.

It is built by the pipeline from a typed VTEX `Order` (see `orderbridge.vtex`) and stored beside the raw
document, so validations never re-parse VTEX JSON. Money is integer cents throughout.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

InvoiceKind = Literal["Output", "Input"]


@dataclass(frozen=True, slots=True)
class OrderItem:
    """One line of the order; `index` is its position in VTEX's `items` (packages refer to it)."""

    index: int
    sku_id: str
    name: str
    quantity: int
    unit_price_cents: int
    unique_id: str = ""


@dataclass(frozen=True, slots=True)
class PackageItem:
    item_index: int
    quantity: int
    unit_price_cents: int


@dataclass(frozen=True, slots=True)
class InvoicePackage:
    """An invoice as VTEX shows it in `packageAttachment.packages`."""

    invoice_number: str
    kind: InvoiceKind
    value_cents: int
    items: tuple[PackageItem, ...] = ()
    tracking_number: str | None = None
    delivered: bool = False


@dataclass(frozen=True, slots=True)
class AppliedChange:
    """One item change as VTEX shows it on the order (`changesAttachment.changesData`), by content.

    `removed` and `added` are quantities per SKU. VTEX's Change v2 mints its own request id, so the
    content (and the reason the ERP wrote) is how an ERP recognizes its own change on the order.
    """

    reason: str
    removed: Mapping[str, int]
    added: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class OrderSnapshot:
    """What orderbridge knows of an order at one `last_change`."""

    order_id: str
    status: str | None
    value_cents: int
    last_change: str = ""
    creation_date: str = ""
    sequence: str = ""
    items: tuple[OrderItem, ...] = ()
    packages: tuple[InvoicePackage, ...] = ()
    open_cancellation_request_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: VTEX's `isCompleted`: false for an order VTEX has not completed (e.g. unpaid) that reached the
    #: seller anyway (known issue 345526). Absent (older documents) counts as completed.
    is_completed: bool = True

    @property
    def output_invoiced_cents(self) -> int:
        """Only `Output` invoices count toward the total (VTEX KI 930491: returns must not)."""
        return sum(p.value_cents for p in self.packages if p.kind == "Output")

    @property
    def remaining_to_invoice_cents(self) -> int:
        return max(self.value_cents - self.output_invoiced_cents, 0)

    @property
    def is_partially_invoiced(self) -> bool:
        return 0 < self.output_invoiced_cents < self.value_cents

    @property
    def is_fully_invoiced(self) -> bool:
        return self.value_cents > 0 and self.output_invoiced_cents >= self.value_cents

    def package(self, invoice_number: str) -> InvoicePackage | None:
        return next((p for p in self.packages if p.invoice_number == invoice_number), None)

    def item_by_sku(self, sku_id: str) -> OrderItem | None:
        return next((i for i in self.items if i.sku_id == sku_id), None)

    def applied_changes(self) -> tuple[AppliedChange, ...]:
        """The item changes on the order, oldest first (kept in `extra["change_log"]` when there are any)."""
        return tuple(
            AppliedChange(
                str(c.get("reason") or ""), dict(c.get("removed") or {}), dict(c.get("added") or {})
            )
            for c in self.extra.get("change_log", ())
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OrderSnapshot:
        return cls(
            order_id=data["order_id"],
            status=data.get("status"),
            value_cents=int(data["value_cents"]),
            last_change=data.get("last_change", ""),
            creation_date=data.get("creation_date", ""),
            sequence=data.get("sequence", ""),
            items=tuple(OrderItem(**i) for i in data.get("items", ())),
            packages=tuple(
                InvoicePackage(**{**p, "items": tuple(PackageItem(**pi) for pi in p.get("items", ()))})
                for p in data.get("packages", ())
            ),
            open_cancellation_request_id=data.get("open_cancellation_request_id"),
            extra=dict(data.get("extra", {})),
            is_completed=bool(data.get("is_completed", True)),
        )
