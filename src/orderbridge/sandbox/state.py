"""`OmsState`: every order, feed, hook, timer, fault and counter of one account of the sandbox.

Single process, single event loop: handlers mutate it without awaiting in between, so no locks.
Time-based transitions are timers on the sandbox clock, run lazily by `tick()` on every request
and by a small background ticker.
"""

from __future__ import annotations

import heapq
import itertools
import random
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from orderbridge.sandbox.clock import Clock, iso_offset, iso_z
from orderbridge.sandbox.config import SandboxAccount, SandboxConfig
from orderbridge.sandbox.creation_index import CreationIndex
from orderbridge.sandbox.faults import FaultConfig, SlidingWindow, preset
from orderbridge.sandbox.feed import Feed
from orderbridge.sandbox.filters import SEED_STATUSES, OrderFilter
from orderbridge.sandbox.hook import HookConfig, HookDispatcher
from orderbridge.sandbox.orders_gen import generate_order
from orderbridge.sandbox.stats import Stats

if TYPE_CHECKING:  # httpx2 is a test dependency: the in-process transports tests plug in
    import httpx2


@dataclass
class OrderMeta:
    """What the sandbox remembers about an order beyond its document."""

    status_changed_at: float
    last_state: str
    status_before_request: str | None = None
    v1_requests: dict[str, dict[str, Any]] = field(default_factory=dict)
    change_api: str | None = None
    cancel_receipt: dict[str, Any] | None = None
    invoice_receipts: dict[str, str] = field(default_factory=dict)


def account_seed(config: SandboxConfig, account: str) -> int:
    """The generator's seed of an account: `config.seed` for the default one (its ids stay what they
    always were), one derived from the name for the others, so two accounts never share order ids."""
    if account == config.account_name:
        return config.seed
    return zlib.crc32(f"{config.seed}:{account}".encode())


class OmsState:
    """One account. Several accounts of one sandbox share its config and clock, nothing else."""

    def __init__(
        self,
        config: SandboxConfig,
        hook_transport: httpx2.AsyncBaseTransport | None = None,
        *,
        account: SandboxAccount | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.config = config
        account = account or config.accounts()[0]
        self.account_name = account.name
        self.app_key = account.app_key
        self.seed = account_seed(config, account.name)
        # The default account also accepts `extra_credentials`; any other only its own pair.
        self.credentials = (
            config.credentials()
            if account.name == config.account_name
            else {account.app_key: account.app_token}
        )
        self.clock = clock or Clock()
        self.hooks = HookDispatcher(
            config.hook_retry_base_s,
            config.hook_retry_factor,
            config.hook_max_attempts,
            config.hook_timeout_s,
            hook_transport,
        )
        self.window = SlidingWindow()
        self.faults: FaultConfig = preset(config.faults, config.latency_ms)
        self._init_data()

    def _init_data(self) -> None:
        self.rng = random.Random(self.seed)
        self.orders: dict[str, dict[str, Any]] = {}
        self.meta: dict[str, OrderMeta] = {}
        self.by_sequence: dict[str, str] = {}
        self.created_at: dict[str, float] = {}
        self.by_creation = CreationIndex()  # List orders' index
        self.json_cache: dict[str, bytes] = {}
        self.feeds: dict[str, Feed] = {}
        self.hook_configs: dict[str, HookConfig] = {}
        self.changes_v2: dict[str, list[dict[str, Any]]] = {}
        self.stats = Stats()
        self.counter = 0
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._timer_seq = itertools.count()

    def reset(self) -> None:
        """Back to how the sandbox started: the seed feed and orders again (if configured), no other
        orders, feeds, hooks or counters; clock offset 0; faults from the config."""
        self.clock.reset()
        self.hooks.clear()
        self.window = SlidingWindow()
        self.faults = preset(self.config.faults, self.config.latency_ms)
        self._init_data()
        self.seed_orders()

    def seed_orders(self) -> None:
        """`--seed-orders N`: a Feed v3 for the account's appKey, then N ready-for-handling orders."""
        if self.config.seed_orders > 0:
            self.ensure_seed_feed(self.app_key)
            self.generate(self.config.seed_orders, "ready-for-handling")

    def ensure_seed_feed(self, app_key: str) -> None:
        if app_key not in self.feeds:
            self.feeds[app_key] = Feed(
                OrderFilter("FromWorkflow", list(SEED_STATUSES)),
                self.config.visibility_timeout_s,
                self.config.retention_s,
                self.clock.now(),
            )

    # --- timers --------------------------------------------------------------------------------

    def schedule(self, delay_s: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (self.clock.now() + delay_s, next(self._timer_seq), action))

    def tick(self) -> None:
        """Run every timer that is due on the sandbox clock, in due order."""
        timers = self._timers
        while timers and timers[0][0] <= self.clock.now():
            _, _, action = heapq.heappop(timers)
            action()
        self._expire_feeds()
        self._expire_hooks()

    def _expire_hooks(self) -> None:
        """VTEX removes a hook configuration that had no notification for 3 days."""
        cutoff = self.clock.now() - self.config.hook_idle_expiry_s
        for app_key in [k for k, h in self.hook_configs.items() if h.last_activity_at <= cutoff]:
            del self.hook_configs[app_key]

    def _expire_feeds(self) -> None:
        """VTEX removes a feed configuration when no event entered it for the retention period."""
        now = self.clock.now()
        for app_key in [k for k, f in self.feeds.items() if f.last_enqueue_at + f.retention_s <= now]:
            del self.feeds[app_key]

    # --- orders --------------------------------------------------------------------------------

    def find(self, order_id: str) -> dict[str, Any] | None:
        """By orderId, or `seq{sequence}` as Get order allows."""
        order = self.orders.get(order_id)
        if order is None and order_id.startswith("seq"):
            real_id = self.by_sequence.get(order_id[3:])
            order = self.orders.get(real_id) if real_id else None
        return order

    def order_bytes(self, order_id: str) -> bytes:
        """The pre-serialized document (the Get-order fast path)."""
        cached = self.json_cache.get(order_id)
        if cached is None:
            cached = self.json_cache[order_id] = orjson.dumps(self.orders[order_id])
        return cached

    def generate(
        self,
        count: int,
        status: str = "ready-for-handling",
        last_state: str = "window-to-cancel",
        *,
        is_completed: bool = True,
    ) -> list[str]:
        """Generated orders enter `window-to-cancel` if there is a grace period, else `status`.

        `is_completed=False` makes orders VTEX has not completed (e.g. unpaid) that reach the seller
        anyway (known issue 345526); `POST /_sandbox/orders/{id}/complete` completes one later."""
        grace = self.config.grace_period_s > 0 and status in ("ready-for-handling", "window-to-cancel")
        entry = "window-to-cancel" if grace else status
        announced_last = "payment-approved" if grace else last_state
        ids = []
        for _ in range(count):
            self.counter += 1
            now = self.clock.now()
            doc = generate_order(self.seed, self.counter, self.account_name, entry, now)
            while doc["orderId"] in self.orders:  # an imported order took this id
                self.counter += 1
                doc = generate_order(self.seed, self.counter, self.account_name, entry, now)
            doc["isCompleted"] = is_completed
            self.add_order(doc, announced_last)
            if grace:
                self._schedule_grace_end(doc["orderId"])
            ids.append(doc["orderId"])
        return ids

    def _schedule_grace_end(self, order_id: str) -> None:
        def end_grace() -> None:
            if self.orders[order_id]["status"] == "window-to-cancel":
                self.set_status(order_id, "ready-for-handling")

        self.schedule(self.config.grace_period_s, end_grace)

    def add_order(self, doc: dict[str, Any], last_state: str) -> None:
        """Store a document as is and announce its current status (feed event + hook delivery)."""
        order_id = doc["orderId"]
        now = self.clock.now()
        self.orders[order_id] = doc
        self.created_at[order_id] = now
        self.by_creation.add(doc)
        if doc.get("sequence") is not None:
            self.by_sequence[str(doc["sequence"])] = order_id
        self.meta[order_id] = OrderMeta(status_changed_at=now, last_state=last_state)
        self._note_ready(order_id, doc.get("status"), now)
        self._announce(order_id, last_state, now, now)

    def set_status(self, order_id: str, status: str) -> None:
        """A workflow transition: new status, lastChange, one event per feed/hook that wants it."""
        order, meta = self.orders[order_id], self.meta[order_id]
        previous, previous_at = order["status"], meta.status_changed_at
        now = self.clock.now()
        order["status"] = status
        order["statusDescription"] = status
        meta.last_state, meta.status_changed_at = previous, now
        self._note_ready(order_id, status, now)
        self.touched(order_id, announce=False)
        self._announce(order_id, previous, previous_at, now)

    def _note_ready(self, order_id: str, status: str | None, now: float) -> None:
        """The first time an order becomes ready-for-handling (a denied cancellation request returns it
        there later: that is not when it became ready)."""
        if status == "ready-for-handling":
            self.stats.ready_at.setdefault(order_id, now)

    def touched(self, order_id: str, announce: bool = True) -> None:
        """The document changed: new lastChange, cache dropped, FromOrders filters re-evaluated."""
        now = self.clock.now()
        self.orders[order_id]["lastChange"] = iso_offset(now)
        self.json_cache.pop(order_id, None)
        if announce:
            meta = self.meta[order_id]
            self._announce(order_id, meta.last_state, meta.status_changed_at, now, status_change=False)

    def _announce(
        self, order_id: str, last_state: str, last_at: float, now: float, status_change: bool = True
    ) -> None:
        order = self.orders[order_id]
        state = order.get("status") or ""
        event = {
            "event_id": uuid.uuid4().hex.upper(),
            "order_id": order_id,
            "domain": "Fulfillment",
            "state": state,
            "last_state": last_state or "",
            "last_change": iso_z(last_at),
            "current_change": iso_z(now),
        }
        for feed in self.feeds.values():
            if self._wants(feed.filter, feed.fired_orders, order, state, status_change):
                feed.enqueue(now, **event)
        for app_key, hook in self.hook_configs.items():
            if self._wants(hook.filter, hook.fired_orders, order, state, status_change):
                body = {
                    "Domain": "Fulfillment",
                    "OrderId": order_id,
                    "State": state,
                    "LastState": last_state or "",
                    "LastChange": event["last_change"],
                    "CurrentChange": event["current_change"],
                    "Origin": {"Account": self.account_name, "Key": app_key},
                }
                self.hooks.enqueue(app_key, body, now)
                hook.last_activity_at = now

    @staticmethod
    def _wants(
        order_filter: OrderFilter, fired: set[str], order: dict[str, Any], state: str, status_change: bool
    ) -> bool:
        if order_filter.type == "FromWorkflow":
            return status_change and order_filter.wants_status(state)
        if not order_filter.wants_document(order):
            return False
        if order_filter.disable_single_fire:
            return True
        if order["orderId"] in fired:
            return False
        fired.add(order["orderId"])
        return True

    # --- views ---------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """GET /_sandbox/stats."""
        now = self.clock.now()
        feeds = {}
        for app_key, feed in self.feeds.items():
            feed.purge(now)
            visible, in_flight = feed.counts(now)
            feeds[app_key] = {"visible": visible, "in_flight": in_flight}
        by_status: dict[str, int] = {}
        for order in self.orders.values():
            by_status[order.get("status") or "null"] = by_status.get(order.get("status") or "null", 0) + 1
        body = self.stats.to_json()
        body.update(
            {
                "feed": feeds,
                "feed_depth": sum(f["visible"] + f["in_flight"] for f in feeds.values()),
                "orders_by_status": by_status,
                "orders_total": len(self.orders),
                "hooks": {"pending": len(self.hooks.pending), **vars(self.hooks.counters)},
            }
        )
        return body
