"""Properties of the money and routing rules, over generated values (hypothesis)."""

from __future__ import annotations

import string
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st
from validation_fixtures import ORDER, invoice_of_a

from orderbridge.core.commands import ChangeCommand, ChangeLine, InvoiceCommand, InvoiceLine
from orderbridge.core.validation import PendingWork, routable_invoice_number_problem, validate_command

SAFE = string.ascii_letters + string.digits + "-_."


@given(value=st.integers(-(10**6), 10**6), in_flight=st.integers(0, 10000))
def test_an_output_invoice_fits_iff_positive_and_within_what_remains(value: int, in_flight: int) -> None:
    pending = PendingWork(
        invoice_cents_in_flight=in_flight, invoice_numbers=frozenset({"X"}), invoice_values={"X": in_flight}
    )
    command = InvoiceCommand("NF1", value, "2026-11-27", (InvoiceLine("A", 1, 0),))
    rules = {v.rule for v in validate_command(command, ORDER, pending)}
    fits = 0 < value <= ORDER.value_cents - in_flight
    assert fits == (not {"not_positive", "exceeds_remaining"} & rules)


@given(st.lists(st.tuples(st.integers(1, 2), st.integers(1, 12000)), max_size=12))
def test_accepted_invoices_never_add_up_to_more_than_the_order_value(attempts: list[tuple[int, int]]) -> None:
    """Whatever the ERP sends, in whatever order, what is accepted stays within the order value."""
    accepted: dict[str, int] = {}
    for n, (quantity, value) in enumerate(attempts):
        command = InvoiceCommand(f"NF{n}", value, "2026-11-27", (InvoiceLine("A", quantity, 0),))
        pending = PendingWork(
            invoice_cents_in_flight=sum(accepted.values()),
            invoice_numbers=frozenset(accepted),
            invoice_values=dict(accepted),
        )
        if not validate_command(command, ORDER, pending):
            accepted[command.invoice_number] = value
    assert sum(accepted.values()) <= ORDER.value_cents


@given(
    prefix=st.text(SAFE, max_size=20),
    bad=st.sampled_from(["/", "#", "?", "%", "\\", " ", "\t", "\n", "\u00a0"]),
    suffix=st.text(SAFE, max_size=20),
)
def test_an_invoice_number_with_a_forbidden_character_is_refused(prefix: str, bad: str, suffix: str) -> None:
    number = prefix + bad + suffix
    assert routable_invoice_number_problem(number) is not None
    rules = {v.rule for v in validate_command(invoice_of_a(number), ORDER, PendingWork())}
    assert "unroutable" in rules


@given(st.text(SAFE, min_size=1, max_size=50))
def test_an_invoice_number_of_plain_characters_is_routable(number: str) -> None:
    assert routable_invoice_number_problem(number) is None


@given(
    remove=st.integers(0, 2),
    add_price=st.integers(0, 20000),
    discount=st.integers(0, 30000),
    increment=st.integers(0, 5000),
)
def test_a_change_is_refused_exactly_when_it_would_make_the_value_negative(
    remove: int, add_price: int, discount: int, increment: int
) -> None:
    command = ChangeCommand(
        "r1",
        "restock",
        remove=(ChangeLine("A", remove, 3000),) if remove else (),
        add=(ChangeLine("C", 1, add_price),),
        discount_cents=discount,
        increment_cents=increment,
    )
    new_value = ORDER.value_cents - remove * 3000 + add_price - discount + increment
    rules = {v.rule for v in validate_command(command, replace(ORDER, packages=()), PendingWork())}
    assert ("negative_value" in rules) == (new_value < 0)
