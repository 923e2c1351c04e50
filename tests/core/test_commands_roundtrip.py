from orderbridge.core.commands import (
    CancelCommand,
    ChangeCommand,
    ChangeLine,
    InvoiceCommand,
    InvoiceLine,
    TrackingEvent,
    TrackingEventsCommand,
    command_from_dict,
    command_to_dict,
)
from orderbridge.core.orders import InvoicePackage, OrderItem, OrderSnapshot, PackageItem


def test_every_command_kind_survives_storage_as_a_dict() -> None:
    commands = [
        InvoiceCommand("NF1", 1000, "2026-11-27T10:00:00Z", (InvoiceLine("sku1", 2, 500),)),
        TrackingEventsCommand("NF1", True, (TrackingEvent("Rio", "RJ", "delivered", "2026-11-27"),)),
        ChangeCommand("r1", "out of stock", remove=(ChangeLine("sku1", 1, 500),)),
        CancelCommand("customer asked"),
    ]
    for command in commands:
        assert command_from_dict(command_to_dict(command)) == command


def test_snapshot_counts_only_output_invoices_toward_the_total() -> None:
    snapshot = OrderSnapshot(
        order_id="1-01",
        status="invoiced",
        value_cents=1000,
        items=(OrderItem(0, "sku1", "Shoe", 2, 500),),
        packages=(
            InvoicePackage("NF1", "Output", 1000, (PackageItem(0, 2, 500),)),
            InvoicePackage("RET1", "Input", 500),
        ),
    )
    assert snapshot.output_invoiced_cents == 1000
    assert snapshot.is_fully_invoiced and not snapshot.is_partially_invoiced
    assert OrderSnapshot.from_dict(snapshot.to_dict()) == snapshot
