"""The pollers of the staging and files adapters: a failing poll is logged and retried, never fatal."""

from __future__ import annotations

import asyncio

import structlog

from orderbridge.erp.polling import poll_until_stopped


async def test_a_failing_poll_is_logged_by_type_and_the_loop_polls_again() -> None:
    stop, polls = asyncio.Event(), []

    async def poll_once() -> None:
        polls.append(1)
        if len(polls) == 1:
            raise ConnectionError("postgresql://erp:s3cret@db/erp refused")  # may quote its URL
        stop.set()

    with structlog.testing.capture_logs() as events:
        await asyncio.wait_for(poll_until_stopped(poll_once, stop, 0.001, adapter="staging"), timeout=5)

    assert len(polls) == 2
    assert events == [
        {"event": "erp_poll_failed", "adapter": "staging", "error": "ConnectionError", "log_level": "warning"}
    ]
    assert "s3cret" not in repr(events)
