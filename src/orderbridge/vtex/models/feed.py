"""Orders Feed v3: events and the feed configuration."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AliasChoices, Field

from .base import VtexResponse, lenient_datetime
from .filters import FeedFilter


class FeedItem(VtexResponse):
    """One feed event (camelCase on the wire). A trigger to re-read the order, not the order's truth.

    Timestamps stay the exact strings VTEX sent (7 fractional digits), so they can be part of an
    idempotency key such as ``(order_id, state, current_change)`` without losing precision.
    """

    event_id: str
    handle: str
    domain: str | None = None
    state: str | None = None
    last_state: str | None = None
    order_id: str
    last_change: str | None = None
    current_change: str | None = None
    available_date: str | None = None

    @property
    def current_change_at(self) -> datetime | None:
        return lenient_datetime(self.current_change)


class FeedQueue(VtexResponse):
    """Queue settings. VTEX requires ``MessageRetentionPeriodInSeconds`` (capital M) on input and
    answers with camelCase; both spellings are read, the capitalised one is sent."""

    visibility_timeout_in_seconds: int = 240
    message_retention_period_in_seconds: int = Field(
        default=345600,
        validation_alias=AliasChoices(
            "MessageRetentionPeriodInSeconds",
            "messageRetentionPeriodInSeconds",
            "message_retention_period_in_seconds",
        ),
        serialization_alias="MessageRetentionPeriodInSeconds",
    )


class FeedConfig(VtexResponse):
    """``GET/POST /api/orders/feed/config``. ``quantity`` and the oldest message's age only come back
    from GET (``quantity`` counts in-flight messages too)."""

    filter: FeedFilter = Field(default_factory=FeedFilter)
    queue: FeedQueue = Field(default_factory=FeedQueue)
    quantity: int | None = None
    approximate_age_of_oldest_message_in_seconds: float | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "approximateAgeOfOldestMessageInSeconds",
            "aproximateAgeOfOldestMessageInSeconds",
            "approximate_age_of_oldest_message_in_seconds",
        ),
    )

    def to_vtex(self) -> dict[str, Any]:
        """The POST body: only ``filter`` and ``queue``, VTEX's key names, no nulls."""
        return {
            "filter": self.filter.model_dump(mode="json", by_alias=True, exclude_none=True),
            "queue": self.queue.model_dump(mode="json", by_alias=True, exclude_none=True),
        }
