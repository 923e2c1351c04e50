"""Which account an ERP's command is for, when the ERP may leave the account out (staging tables, files).

Both channels answer in the same words as the REST API, so an ERP team reads one vocabulary of refusals.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from orderbridge.erp.port import CommandSink


async def owning_account(
    sink: CommandSink,
    order_id: str,
    account: str | None,
    handed_over_to: Callable[[], Awaitable[Sequence[str]]],
    *,
    field: str,
) -> tuple[str | None, str | None]:
    """(account, None) when the order can be addressed, else (None, why) naming `field` and the rule.

    `account` is the command's own (or the configured default); only when it is None are the accounts the
    order was handed over to asked (`handed_over_to`): one of them is the answer, several are ambiguous.
    """
    for name, value in ((field, order_id), ("account", account or "")):
        if "\x00" in value:  # PostgreSQL cannot even look such an id up
            return None, f"{name}: must not contain a NUL character [nul_character]"
    if account is None:
        accounts = sorted(await handed_over_to())
        if len(accounts) > 1:
            listed = ", ".join(accounts)
            return None, f"account: order {order_id} exists in several accounts ({listed}) [ambiguous_order]"
        account = accounts[0] if accounts else None
    if account is None or await sink.current_order(account, order_id) is None:
        return None, f"{field}: order {order_id} is not known to orderbridge [unknown_order]"
    return account, None
