"""Item changes against the order as VTEX has it (issue 10, defect 1): a change that would take a
quantity below zero, or clash with a change accepted and not yet visible, is a conflict (409); the same
change resent under its `request_id` is recognized as the first one."""

from __future__ import annotations

from dataclasses import replace

from validation_fixtures import ORDER, remove_a

from orderbridge.core.commands import ChangeCommand, ChangeLine
from orderbridge.core.validation import (
    PendingWork,
    change_request_reused,
    validate_command,
)

NONE = PendingWork()


def test_a_change_taking_a_quantity_below_zero_is_a_conflict_that_says_so() -> None:
    [violation] = validate_command(remove_a(3), ORDER, NONE)
    assert (violation.field, violation.rule, violation.conflict) == (
        "itemsRemoved",
        "quantity_exceeds",
        True,
    )
    assert violation.message == (
        "itemsRemoved: SKU 'A': cannot remove 3, the order has 2 (the quantity would go below zero)"
    )


def test_removing_a_sku_vtex_already_dropped_from_the_order_is_a_conflict() -> None:
    without_a = replace(ORDER, items=ORDER.items[1:], value_cents=4000)
    [violation] = validate_command(remove_a(1), without_a, NONE)
    assert (violation.rule, violation.conflict) == ("unknown_sku", True)


def test_a_change_while_another_is_accepted_and_not_yet_on_the_order_is_a_conflict() -> None:
    [violation] = validate_command(remove_a(1), ORDER, PendingWork(change_in_progress=True))
    assert (violation.rule, violation.conflict) == ("change_in_progress", True)
    assert "accepted and not yet on the order" in violation.message


def test_a_malformed_change_is_invalid_not_a_conflict() -> None:
    violations = validate_command(replace(remove_a(0), reason=""), ORDER, NONE)
    assert {v.rule for v in violations} == {"required", "not_positive"}
    assert not any(v.conflict for v in violations)


def test_a_request_id_naming_another_change_is_refused_as_a_conflict() -> None:
    other = ChangeCommand("req-1", "out of stock", remove=(ChangeLine("B", 1, 4000),))
    violation = change_request_reused(other, "cmd-7")
    assert (violation.field, violation.rule, violation.conflict) == (
        "requestId",
        "request_id_reused",
        True,
    )
    assert "'req-1'" in violation.message and "cmd-7" in violation.message
