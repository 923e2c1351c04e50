"""Finding the account of a command from the staging tables or files, in the REST API's words."""

from __future__ import annotations

from typing import Any, cast

import pytest

from orderbridge.erp.addressing import owning_account
from orderbridge.erp.port import CommandSink


class _Sink:
    """Knows the orders in `known`; records every lookup (a NUL must never reach the store)."""

    def __init__(self, *known: tuple[str, str]) -> None:
        self.known, self.lookups = set(known), list[tuple[str, str]]()

    async def current_order(self, account: str, order_id: str) -> Any:
        self.lookups.append((account, order_id))
        return object() if (account, order_id) in self.known else None


def _handed_over_to(*accounts: str) -> Any:
    async def find() -> list[str]:
        return list(accounts)

    return find


async def test_the_command_s_own_account_wins_and_the_order_must_be_known() -> None:
    sink = _Sink(("shop", "1-01"))
    found = await owning_account(cast(CommandSink, sink), "1-01", "shop", _handed_over_to(), field="orderId")
    assert found == ("shop", None)
    missing = await owning_account(
        cast(CommandSink, sink), "2-01", "shop", _handed_over_to(), field="orderId"
    )
    assert missing == (None, "orderId: order 2-01 is not known to orderbridge [unknown_order]")


async def test_without_an_account_the_one_it_was_handed_over_to_is_used_and_two_are_ambiguous() -> None:
    sink = cast(CommandSink, _Sink(("b", "1-01")))
    assert await owning_account(sink, "1-01", None, _handed_over_to("b"), field="order_id") == ("b", None)
    account, why = await owning_account(sink, "1-01", None, _handed_over_to("b", "a"), field="order_id")
    assert account is None
    assert why == "account: order 1-01 exists in several accounts (a, b) [ambiguous_order]"


@pytest.mark.parametrize(
    ("order_id", "account", "why"),
    [
        ("1\x00-01", "shop", "order_id: must not contain a NUL character [nul_character]"),
        ("1-01", "sh\x00op", "account: must not contain a NUL character [nul_character]"),
    ],
)
async def test_an_id_with_a_nul_is_refused_before_any_lookup(order_id: str, account: str, why: str) -> None:
    sink = _Sink()
    found = await owning_account(
        cast(CommandSink, sink), order_id, account, _handed_over_to(), field="order_id"
    )
    assert found == (None, why)
    assert sink.lookups == []
