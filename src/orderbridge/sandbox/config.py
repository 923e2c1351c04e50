"""Everything that shapes one sandbox instance. Defaults are the faithful-to-VTEX choices."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

SellerCancelMode = Literal["direct", "request"]

_ACCOUNT_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


@dataclass(frozen=True)
class SandboxAccount:
    """One VTEX account the sandbox serves: its name and the appKey/appToken pair it accepts."""

    name: str
    app_key: str
    app_token: str

    def __post_init__(self) -> None:
        if not _ACCOUNT_NAME.fullmatch(self.name):
            raise ValueError(f"account name {self.name!r}: lowercase letters, digits and '-'")
        if not self.app_key or not self.app_token:
            raise ValueError(f"account {self.name!r}: the appKey and the appToken must not be empty")

    @classmethod
    def parse(cls, text: str) -> SandboxAccount:
        """`NAME:APPKEY:APPTOKEN` (the token may itself hold ':')."""
        name, sep, rest = text.partition(":")
        app_key, sep2, app_token = rest.partition(":")
        if not (sep and sep2):
            raise ValueError(f"--account {name or text!r}: expected NAME:APPKEY:APPTOKEN")
        return cls(name, app_key, app_token)


@dataclass
class SandboxConfig:
    """Configuration of one sandbox.

    Durations are seconds of the sandbox clock (real time plus the offset that
    `/_sandbox/clock/advance` adds), so tests can skip time instead of waiting for it.
    """

    account_name: str = "sandboxaccount"
    app_key: str = "vtexappkey-sandbox"
    app_token: str = "sandbox-token"
    seed_orders: int = 0
    seed: int = 42
    latency_ms: int = 0
    faults: str = "none"
    # 0 = generated orders go straight to ready-for-handling; VTEX's store default is 1800.
    grace_period_s: float = 0.0
    # `invoice` -> `invoiced` and `cancel` -> `canceled` are asynchronous at VTEX (payments settle).
    invoice_settle_s: float = 0.5
    cancel_settle_s: float = 0.5
    # Change v2 is asynchronous: waiting-acknowledgement -> done after this delay.
    change_v2_settle_s: float = 0.5
    visibility_timeout_s: int = 240
    retention_s: int = 345600
    changes_v1_enabled: bool = True
    # UNCONFIRMED at VTEX: whether a superseded handle of a redelivered event still commits.
    # False follows SQS: only the latest receipt handle deletes; older ones answer 200 and do nothing.
    stale_handle_commits: bool = False
    # UNCONFIRMED at VTEX: whether the seller's own POST /cancel in ready-for-handling/handling
    # cancels at once ("direct") or only creates a cancellation request ("request").
    seller_cancel_mode: SellerCancelMode = "direct"
    # Hook deliveries: growing delays base * factor**(attempt-1), dropped after max attempts.
    hook_retry_base_s: float = 1.0
    hook_retry_factor: float = 2.0
    hook_max_attempts: int = 100
    hook_timeout_s: float = 5.0
    # VTEX removes a hook configuration that had no notification for 3 days.
    hook_idle_expiry_s: float = 259200.0
    # List orders is an index that lags (~4 min at VTEX); 0 shows new orders at once.
    list_index_delay_s: float = 0.0
    list_max_pages: int = 30
    # Further appKey -> appToken pairs that may call the default account (each gets its own feed and hook).
    extra_credentials: dict[str, str] = field(default_factory=dict)
    ticker_interval_s: float = 0.1
    # Accounts served beside the default one (`account_name`), each with its own orders, feeds, hooks,
    # counters and credentials; a client names one by the path prefix `/{name}` (docs/sandbox.md).
    more_accounts: tuple[SandboxAccount, ...] = ()

    def __post_init__(self) -> None:
        names = [account.name for account in self.accounts()]
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            raise ValueError(f"account names must be unique: {', '.join(duplicated)} appears twice")

    def accounts(self) -> list[SandboxAccount]:
        """Every account served, the default one first."""
        return [SandboxAccount(self.account_name, self.app_key, self.app_token), *self.more_accounts]

    def credentials(self) -> dict[str, str]:
        """The appKey -> appToken pairs the default account accepts."""
        return {**self.extra_credentials, self.app_key: self.app_token}
