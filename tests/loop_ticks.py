"""Counting the event loop's turns: the proof that a wait happened off the loop, not on it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class Ticks:
    count = 0


@contextlib.asynccontextmanager
async def counting_ticks(every_s: float = 0.01) -> AsyncIterator[Ticks]:
    """Counts `every_s` sleeps completed while the block runs (a blocked loop completes none)."""
    ticks = Ticks()

    async def tick() -> None:
        while True:
            await asyncio.sleep(every_s)
            ticks.count += 1

    ticker = asyncio.create_task(tick())
    try:
        yield ticks
    finally:
        ticker.cancel()
