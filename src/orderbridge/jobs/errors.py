"""How a handler tells the queue what became of a job: return normally = done, or raise one of these.

Any other exception is a failure: retried with exponential backoff and jitter until the job's attempts
are spent, then parked with the error as its reason.
"""

from __future__ import annotations


class RetryLater(Exception):
    """Run the job again after `delay_s` seconds.

    `count_attempt=False` for waits that are not the job's fault (a 429 with `Retry-After`, a paused
    account): the attempt is given back, so waiting never exhausts the retries.
    """

    def __init__(self, delay_s: float, reason: str, count_attempt: bool = True) -> None:
        super().__init__(reason)
        self.delay_s = max(float(delay_s), 0.0)
        self.reason = reason
        self.count_attempt = count_attempt


class Park(Exception):
    """Give up now and leave the job for an operator (visible with its reason; `requeue` runs it again)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
