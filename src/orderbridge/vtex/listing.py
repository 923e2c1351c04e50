"""Reading every order of a period from List orders despite its cap (30 pages of at most 100).

A query that matches more orders than the cap can return is cut into narrower ``f_creationDate``
slices — as many as the count says are needed if orders were spread evenly, plus one, since they are
not (a slice still too big is cut again). A slice one millisecond wide (the precision of the filter)
that is still too big is cut by status. Pure planning here; ``VtexClient.list_orders_in_slices`` reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

MS = timedelta(milliseconds=1)


@dataclass(frozen=True, slots=True)
class Slice:
    """One List-orders query: orders created in [start, end] (both inclusive, like VTEX's
    ``creationDate:[A TO B]``), in one of ``statuses`` (empty: any status)."""

    start: datetime
    end: datetime
    statuses: tuple[str, ...] = ()

    def describe(self, total: int) -> str:
        statuses = ",".join(self.statuses) or "any status"
        return f"{self.start.isoformat()} to {self.end.isoformat()} ({statuses}): {total} orders"


@dataclass
class ListingReport:
    """What reading every order of a period cost, for the caller's log."""

    calls: int = 0
    """List-orders requests made (they are rate-limited like every other call)."""
    slices: int = 0
    """Slices read to the end."""
    splits: int = 0
    """Slices found too big for the cap and cut into narrower ones (each cost one request)."""
    truncated: list[str] = field(default_factory=list)
    """Slices still too big at the finest cut, read only up to the cap: orders were missed."""


def slice_plan(part: Slice, total: int, capacity: int) -> list[Slice]:
    """The narrower slices to read instead of ``part`` (newest first) when its ``total`` orders exceed
    what one query returns (``capacity``); empty when it fits, or cannot be cut any finer."""
    if total <= capacity:
        return []
    by_time = split_time(part.start, part.end, total // capacity + 2)
    if len(by_time) > 1:
        return [Slice(start, end, part.statuses) for start, end in by_time]
    if len(part.statuses) > 1:
        return [Slice(part.start, part.end, (status,)) for status in part.statuses]
    return []


def split_time(start: datetime, end: datetime, pieces: int) -> list[tuple[datetime, datetime]]:
    """[start, end] as up to ``pieces`` contiguous ranges, newest first, on whole milliseconds (what
    ``f_creationDate`` carries). Neighbours share their bound: both ends are inclusive, so an order on
    a bound is in both ranges rather than in neither. A range too narrow to cut comes back whole."""
    start, end = _floor_ms(start), _floor_ms(end)
    span_ms = (end - start) // MS
    pieces = min(pieces, span_ms)
    if pieces < 2:
        return [(start, end)]
    bounds = [start + MS * (span_ms * i // pieces) for i in range(pieces + 1)]
    return [(bounds[i], bounds[i + 1]) for i in reversed(range(pieces))]


def _floor_ms(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
