"""A VTEX outage is waited out; it never spends the attempts that park a poison job.

The queue parks a job after `max_attempts` failed runs, so that a job which fails whatever the world
does (a bug, a document it cannot read, a run that kills its worker) stops and waits for an operator.
A VTEX that answers 5xx, times out, or has not applied yet a call that may have landed is the world,
not the job: counting it parked orders after a few seconds of flaky VTEX (a start-handling answered 429
then 502, re-read twice, gave up with the order waiting for ever). Such a job waits and tries again in
the order's lane for as long as the outage lasts; each try is in the order's timeline and the job shows
the last error, as the ERP's outages already do (`erp_health`).

The wait grows with the time the job has been trying — a quarter of it, within
`Timing.vtex_outage_retry_s` and `vtex_outage_retry_max_s` — so a long outage costs about one call per
order per minute, not a tight loop, and a short one is over in about a second.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from orderbridge.jobs.errors import RetryLater
from orderbridge.jobs.port import Handler, Job
from orderbridge.vtex.errors import Unavailable

from .deps import PipelineDeps, Timing


def outage_delay_s(timing: Timing, waited_s: float, at_least_s: float = 0.0) -> float:
    first = max(timing.vtex_outage_retry_s, at_least_s)
    return min(max(waited_s / 4, first), timing.vtex_outage_retry_max_s)


def wait_out(
    timing: Timing, since: datetime | None, now: datetime, reason: str, *, at_least_s: float = 0.0
) -> RetryLater:
    """The wait for a job (or step) trying since `since`; its attempt is given back.

    `at_least_s`: the shortest wait that can help (a Change v2 needs time to show on the order)."""
    waited_s = (now - since).total_seconds() if since is not None else 0.0
    return RetryLater(outage_delay_s(timing, waited_s, at_least_s), reason, count_attempt=False)


def waiting_out_outages(
    deps: PipelineDeps, handler: Callable[[PipelineDeps, Job], Awaitable[None]]
) -> Handler:
    """`handler`, with any VTEX outage it does not handle itself turned into a wait (see the module)."""

    async def run(job: Job) -> None:
        try:
            await handler(deps, job)
        except Unavailable as error:
            raise wait_out(
                deps.timing, job.enqueued_at, deps.clock(), f"VTEX unavailable: {error}"
            ) from error

    return run
