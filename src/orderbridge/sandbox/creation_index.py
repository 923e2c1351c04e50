"""List orders' index by creation date: a sorted list, so an `f_creationDate` range costs a bisection and
the orders in the range, not a pass over every order (a reconciliation sweep reads thousands of slices
of a large sandbox; a full scan per page made the sandbox, not the client, the bottleneck)."""

from __future__ import annotations

import bisect
import math
from typing import Any

from orderbridge.sandbox.clock import parse_iso

_UNDATED = -math.inf
# The lowest key a date range can start at: undated orders (key -inf) are in no range, even `[* TO …]`.
_FIRST_DATED = math.nextafter(-math.inf, 0.0)


class CreationIndex:
    """Order ids by (creation time, sequence, id): VTEX's `orderBy=creationDate` order, ties by sequence.

    An order whose `creationDate` is missing or unreadable (imported documents of odd shape) is listed
    when no date range is asked for, before every dated order, and in no date range."""

    def __init__(self) -> None:
        self._keys: list[tuple[float, str, str]] = []

    def add(self, order: dict[str, Any]) -> None:
        bisect.insort(self._keys, _key(order))

    def ids(self, created: tuple[float, float] | None = None) -> list[str]:
        """Ids created in [start, end] (both inclusive, as Solr's `[A TO B]`; an open end is an
        infinity), oldest first; every order when `created` is None."""
        if created is None:
            return [order_id for _, _, order_id in self._keys]
        start, end = created
        low = bisect.bisect_left(self._keys, (max(start, _FIRST_DATED),))
        # A 1-tuple sorts before every key of its time, "\uffff" after every sequence of it.
        high = bisect.bisect_right(self._keys, (end, "\uffff"))
        return [order_id for _, _, order_id in self._keys[low:high]]

    def __len__(self) -> int:
        return len(self._keys)


def _key(order: dict[str, Any]) -> tuple[float, str, str]:
    raw = order.get("creationDate")
    when = parse_iso(raw) if isinstance(raw, str) else None
    return (_UNDATED if when is None else when, str(order.get("sequence") or ""), str(order["orderId"]))
