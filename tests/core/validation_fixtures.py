"""Orders and commands for the validation tests: one handling order of 100.00 with two SKUs."""

from __future__ import annotations

from dataclasses import replace

from orderbridge.core.commands import ChangeCommand, ChangeLine, InvoiceCommand, InvoiceLine
from orderbridge.core.orders import InvoicePackage, OrderItem, OrderSnapshot, PackageItem

# SKU A: 2 × 30.00, SKU B: 1 × 40.00 → 100.00
ORDER = OrderSnapshot(
    order_id="1000-01",
    status="handling",
    value_cents=10000,
    items=(
        OrderItem(index=0, sku_id="A", name="Shirt", quantity=2, unit_price_cents=3000),
        OrderItem(index=1, sku_id="B", name="Shoes", quantity=1, unit_price_cents=4000),
    ),
)


def full_invoice(number: str = "NF1", value: int = 10000) -> InvoiceCommand:
    return InvoiceCommand(
        invoice_number=number,
        value_cents=value,
        issuance_date="2026-11-27T10:00:00Z",
        lines=(InvoiceLine("A", 2, 3000), InvoiceLine("B", 1, 4000)),
    )


def invoice_of_a(number: str = "NF1", quantity: int = 1, value: int = 3000) -> InvoiceCommand:
    return InvoiceCommand(number, value, "2026-11-27T10:00:00Z", (InvoiceLine("A", quantity, 3000),))


def package(
    number: str = "NF0",
    value: int = 3000,
    *,
    kind: str = "Output",
    items: tuple[PackageItem, ...] = (PackageItem(0, 1, 3000),),
    tracking: str | None = None,
    delivered: bool = False,
) -> InvoicePackage:
    return InvoicePackage(number, kind, value, items, tracking, delivered)  # type: ignore[arg-type]


def with_packages(*packages: InvoicePackage, status: str = "handling") -> OrderSnapshot:
    return replace(ORDER, status=status, packages=packages)


FULLY_INVOICED = with_packages(
    package("NF0", 10000, items=(PackageItem(0, 2, 3000), PackageItem(1, 1, 4000)), tracking="TR0"),
    status="invoiced",
)


def remove_a(quantity: int = 1) -> ChangeCommand:
    return ChangeCommand("req-1", "out of stock", remove=(ChangeLine("A", quantity, 3000),))
