from orderbridge.core.commands import CancelCommand
from orderbridge.core.orders import OrderItem, OrderSnapshot
from orderbridge.core.validation import PendingWork, validate_command

ORDER = OrderSnapshot("1-01", "cancellation-requested", 1000, items=(OrderItem(0, "sku1", "Shoe", 2, 500),))


def test_a_cancel_is_refused_while_an_invoice_is_in_flight() -> None:
    pending = PendingWork(invoice_cents_in_flight=1000, invoice_numbers=frozenset({"NF1"}))
    problems = validate_command(CancelCommand("shopper asked"), ORDER, pending)
    assert [p.rule for p in problems] == ["invoice_in_flight"]


def test_a_cancel_does_not_race_an_invoice_held_for_the_cancellation_decision() -> None:
    pending = PendingWork(
        invoice_cents_in_flight=1000,
        invoice_numbers=frozenset({"NF1"}),
        held_invoice_numbers=frozenset({"NF1"}),
    )
    assert validate_command(CancelCommand("shopper asked"), ORDER, pending) == []
