"""Feed v3 for one appKey: an SQS-like queue of order events.

At-least-once, unordered, invisible for the visibility timeout after a read, redelivered with a
fresh handle when not committed, deleted after the retention period whether committed or not.
"""

from __future__ import annotations

import base64
import random
import secrets
from dataclasses import dataclass, field
from typing import Any

import orjson

from orderbridge.sandbox.filters import OrderFilter, parse_filter
from orderbridge.sandbox.responses import ProblemError

MIN_RETENTION_S = 345600
MAX_RETENTION_S = 1209600


@dataclass
class FeedEvent:
    """One queue entry. A duplicate delivery is a second entry with the same `event_id`."""

    entry_id: int
    event_id: str
    order_id: str
    domain: str
    state: str
    last_state: str
    last_change: str
    current_change: str
    enqueued_at: float
    visible_at: float
    handle: str | None = None
    receives: int = 0

    def item(self) -> dict[str, Any]:
        return {
            "eventId": self.event_id,
            "handle": self.handle,
            "domain": self.domain,
            "state": self.state,
            "lastState": self.last_state,
            "orderId": self.order_id,
            "lastChange": self.last_change,
            "currentChange": self.current_change,
        }


@dataclass
class Feed:
    filter: OrderFilter
    visibility_timeout_s: int
    retention_s: int
    last_enqueue_at: float
    entries: dict[int, FeedEvent] = field(default_factory=dict)
    handles: dict[str, int] = field(default_factory=dict)
    fired_orders: set[str] = field(default_factory=set)
    next_entry: int = 0
    last_purge_at: float = float("-inf")

    def enqueue(self, now: float, **event: str) -> None:
        self.next_entry += 1
        self.entries[self.next_entry] = FeedEvent(
            entry_id=self.next_entry,
            event_id=event["event_id"],
            order_id=event["order_id"],
            domain=event["domain"],
            state=event["state"],
            last_state=event["last_state"],
            last_change=event["last_change"],
            current_change=event["current_change"],
            enqueued_at=now,
            visible_at=now,
        )
        self.last_enqueue_at = now

    def purge(self, now: float) -> None:
        """Retention: events leave the queue after the retention period, committed or not.
        A full scan at most once per sandbox second keeps reads O(maxlot)."""
        if now - self.last_purge_at < 1.0:
            return
        self.last_purge_at = now
        expired = [e.entry_id for e in self.entries.values() if e.enqueued_at + self.retention_s <= now]
        for entry_id in expired:
            del self.entries[entry_id]
        live = self.entries
        self.handles = {h: entry for h, entry in self.handles.items() if entry in live}

    def counts(self, now: float) -> tuple[int, int]:
        """(visible, in flight)."""
        visible = sum(1 for e in self.entries.values() if e.visible_at <= now)
        return visible, len(self.entries) - visible

    def read(
        self,
        maxlot: int,
        now: float,
        rng: random.Random,
        duplicate_ratio: float = 0.0,
        reorder: bool = False,
        short_batch_ratio: float = 0.0,
    ) -> list[dict[str, Any]]:
        self.purge(now)
        if maxlot > 1 and short_batch_ratio and rng.random() < short_batch_ratio:
            maxlot = rng.randint(1, maxlot - 1)
        if reorder:
            visible = [e for e in self.entries.values() if e.visible_at <= now]
            rng.shuffle(visible)
            batch = visible[:maxlot]
        else:
            batch = []
            for event in self.entries.values():
                if event.visible_at <= now:
                    batch.append(event)
                    if len(batch) == maxlot:
                        break
        for event in batch:
            self._deliver(event, now)
            if duplicate_ratio and rng.random() < duplicate_ratio:
                self._duplicate(event, now)
        return [e.item() for e in batch]

    def _deliver(self, event: FeedEvent, now: float) -> None:
        event.receives += 1
        event.visible_at = now + self.visibility_timeout_s
        event.handle = _mint_handle(event)
        self.handles[event.handle] = event.entry_id

    def _duplicate(self, event: FeedEvent, now: float) -> None:
        """At-least-once: the same event (same eventId) shows up again as a separate delivery."""
        self.next_entry += 1
        self.entries[self.next_entry] = FeedEvent(
            self.next_entry,
            event.event_id,
            event.order_id,
            event.domain,
            event.state,
            event.last_state,
            event.last_change,
            event.current_change,
            enqueued_at=event.enqueued_at,
            visible_at=now,
        )

    def commit(self, handles: list[str], stale_commits: bool) -> int:
        """Delete the events whose handles are given; unknown handles are ignored (200 either way)."""
        deleted = 0
        for handle in handles:
            entry_id = self.handles.pop(handle, None)
            event = self.entries.get(entry_id) if entry_id is not None else None
            if event is None or (event.handle != handle and not stale_commits):
                continue
            del self.entries[event.entry_id]
            deleted += 1
        return deleted

    def config_json(self, now: float) -> dict[str, Any]:
        oldest = min((e.enqueued_at for e in self.entries.values()), default=now)
        return {
            "filter": self.filter.to_json(),
            "queue": {
                "visibilityTimeoutInSeconds": self.visibility_timeout_s,
                "messageRetentionPeriodInSeconds": self.retention_s,
            },
            "quantity": len(self.entries),
            "approximateAgeOfOldestMessageInSeconds": max(0.0, now - oldest),
        }


def _mint_handle(event: FeedEvent) -> str:
    """An opaque, JWT-looking handle; fresh for every delivery."""
    payload = orjson.dumps(
        {
            "MessageId": event.event_id,
            "OrderId": event.order_id,
            "Receive": event.receives,
            "Nonce": secrets.token_hex(8),
        }
    )
    return "sbx." + base64.urlsafe_b64encode(payload).decode().rstrip("=") + "." + secrets.token_urlsafe(12)


def _get_ci(mapping: dict[str, Any], key: str) -> Any:
    """VTEX's ASP.NET binding is case-insensitive on input (`MessageRetentionPeriodInSeconds`)."""
    for k, v in mapping.items():
        if k.lower() == key.lower():
            return v
    return None


def parse_feed_config(body: Any, default_visibility_s: int) -> tuple[OrderFilter, int, int]:
    """Validate a POST /api/orders/feed/config body -> (filter, visibility timeout, retention)."""
    if not isinstance(body, dict):
        raise ProblemError(400, "One or more validation errors occurred.", {"": ["A body is required."]})
    queue = _get_ci(body, "queue")
    if not isinstance(queue, dict):
        raise ProblemError(
            400, "One or more validation errors occurred.", {"Queue": ["The Queue field is required."]}
        )
    order_filter = parse_filter(_get_ci(body, "filter"))
    visibility = _get_ci(queue, "visibilityTimeoutInSeconds")
    retention = _get_ci(queue, "messageRetentionPeriodInSeconds")
    visibility = default_visibility_s if visibility is None else visibility
    retention = MIN_RETENTION_S if retention is None else retention
    if not isinstance(visibility, int) or not 0 <= visibility <= 43200:
        raise ProblemError(
            400,
            "One or more validation errors occurred.",
            {"Queue.VisibilityTimeoutInSeconds": ["Must be an integer in 0..43200."]},
        )
    if not isinstance(retention, int) or not MIN_RETENTION_S <= retention <= MAX_RETENTION_S:
        raise ProblemError(
            400,
            "One or more validation errors occurred.",
            {
                "Queue.MessageRetentionPeriodInSeconds": [
                    f"Must be an integer in {MIN_RETENTION_S}..{MAX_RETENTION_S}."
                ]
            },
        )
    return order_filter, visibility, retention
