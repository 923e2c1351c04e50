"""What the pipeline's moving parts share: the database, the job queue, one VTEX client per account,
the ERP adapter and each account's policy.

Handlers, pollers and the command sink receive one `PipelineDeps` instead of a dozen arguments, and
tests build it with the sandbox and the simulated warehouse exactly as the service does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from orderbridge.core.decisions import FEED_STATUSES
from orderbridge.erp.port import CommandSink, ErpAdapter
from orderbridge.jobs.port import JobQueue
from orderbridge.store.db import Database
from orderbridge.vtex import VtexClient

from .call_log import CallLog
from .vtex_health import VtexHealth

SYNC_ORDER = "sync_order"
RELAY_COMMAND = "relay_command"
APPLY_ACCEPTANCE = "apply_acceptance"
HOOK_SECRET_HEADER = "X-Orderbridge-Hook-Secret"


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class AccountPolicy:
    """The per-account knobs the pipeline reads (built from `orderbridge.config.AccountSettings`)."""

    name: str
    intake: Literal["feed", "hook", "both"] = "feed"
    pollers: int = 4
    maxlot: int = 10
    feed_statuses: tuple[str, ...] = FEED_STATUSES
    feed_expression: str | None = None
    hook_secret: str | None = None
    hook_url: str | None = None
    change_api: Literal["v1", "v2"] = "v2"
    cancellation_before_acceptance: Literal["accept", "ask_erp"] = "accept"

    @property
    def uses_feed(self) -> bool:
        return self.intake in ("feed", "both")

    @property
    def uses_hook(self) -> bool:
        return self.intake in ("hook", "both")


@dataclass
class Timing:
    """Delays the pipeline waits; the defaults suit production, tests shrink them."""

    feed_idle_min_s: float = 0.2
    feed_idle_max_s: float = 2.0
    feed_error_s: float = 1.0
    """A poller's first wait after a failed feed read; each further failure in a row doubles it (with
    jitter), up to `feed_error_max_s`."""
    feed_error_max_s: float = 60.0
    paused_probe_s: float = 30.0
    change_poll_s: float = 0.5
    vtex_outage_retry_s: float = 1.0
    """A job's first wait after VTEX failed it (5xx, timeout, a call that may have landed and did not);
    later ones wait a quarter of the time the job has been trying, up to `vtex_outage_retry_max_s`.
    Such waits never spend the job's attempts (`pipeline.outages`)."""
    vtex_outage_retry_max_s: float = 60.0
    decision_behind_invoice_s: float = 0.5
    """An ERP's cancellation decision waiting behind an invoice still on its way to VTEX is taken again
    after this; each further wait doubles it, up to `vtex_outage_retry_max_s`
    (`pipeline.sync._decide_behind_the_invoice`)."""
    incomplete_recheck_s: float = 60.0
    """First re-read of an order VTEX has not completed (`isCompleted` false); later ones wait as long
    again as the order has waited so far, up to `incomplete_recheck_max_s`."""
    incomplete_recheck_max_s: float = 900.0


@dataclass
class PipelineDeps:
    db: Database
    clients: Mapping[str, VtexClient]
    erp: ErpAdapter
    accounts: Mapping[str, AccountPolicy]
    timing: Timing = field(default_factory=Timing)
    clock: Callable[[], datetime] = utcnow
    queue: JobQueue = field(init=False)
    """Set once the queue exists: the queue needs the handlers, the handlers need the queue."""
    sink: CommandSink = field(init=False)
    """The pipeline's own `CommandSink` (the ERP's answers to cancellation requests go through it)."""
    paused: dict[str, str] = field(default_factory=dict)
    """Accounts paused after an auth error, with the reason (mirrored in the `accounts` table)."""
    vtex_health: VtexHealth = field(init=False)
    """Whether each account's VTEX answers its feed reads (mirrored for `orderbridge status`)."""
    call_log: CallLog = field(init=False)
    """Every VTEX call about an order, for its timeline (the `Pipeline` makes it observe the clients)."""

    def __post_init__(self) -> None:
        self.vtex_health = VtexHealth(self.db)
        self.call_log = CallLog(self.db)

    def client(self, account: str) -> VtexClient:
        return self.clients[account]

    def policy(self, account: str) -> AccountPolicy:
        return self.accounts[account]


def lock_of(account: str, order_id: str) -> str:
    """One lock per order: all of an order's jobs run in order, never concurrently (invariant 4)."""
    return f"{account}:{order_id}"


def sync_queueing_lock(account: str, order_id: str) -> str:
    """Coalesces waiting syncs of one order: safe, because a sync always re-reads the order."""
    return f"sync:{account}:{order_id}"
