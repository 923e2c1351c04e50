"""The inbound loop of the ERP adapters that poll (staging tables, files): poll, wait, until stopped."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger("orderbridge.erp.polling")


async def poll_until_stopped(
    poll_once: Callable[[], Awaitable[object]], stop: asyncio.Event, interval_s: float, *, adapter: str
) -> None:
    """Call `poll_once` every `interval_s` until `stop` is set.

    A failing poll (the ERP's database down, a file busy or vanished) is retried next time, never fatal;
    it is logged so an operator sees why nothing comes in — by type only, as a database error may quote
    its connection URL.
    """
    while not stop.is_set():
        try:
            await poll_once()
        except Exception as error:
            log.warning("erp_poll_failed", adapter=adapter, error=type(error).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval_s)
