"""The sandbox clock: real time plus an offset, so tests can jump ahead instead of sleeping."""

from __future__ import annotations

import time
from datetime import UTC, datetime


class Clock:
    """Seconds since the epoch, shifted by everything `advance` has added."""

    def __init__(self) -> None:
        self.offset_s = 0.0

    def now(self) -> float:
        return time.time() + self.offset_s

    def advance(self, seconds: float) -> float:
        self.offset_s += seconds
        return self.now()

    def reset(self) -> None:
        self.offset_s = 0.0


def to_datetime(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def iso_offset(ts: float) -> str:
    """VTEX's order-document date style: 7 fractional digits and `+00:00`."""
    return to_datetime(ts).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0+00:00"


def iso_z(ts: float) -> str:
    """VTEX's feed/hook date style: 7 fractional digits and `Z`."""
    return to_datetime(ts).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def parse_iso(text: str) -> float | None:
    """Parse the ISO dates clients send (any precision, `Z` or offset); None when unreadable."""
    try:
        parsed = datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()
