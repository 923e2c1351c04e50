"""Errors an ERP adapter raises. A business "no" is a `Rejected` result, never an exception."""

from __future__ import annotations


class ErpError(Exception):
    """Base of the ERP adapters' errors."""


class ErpUnavailable(ErpError):
    """The ERP could not be reached, or its answer decided nothing: the pipeline retries the job.

    Only an explicit answer is a business decision. A 401, a 404, a timeout or a 5xx says nothing
    about the order; it is reported (the ERP channel's health) and retried, never read as a "no".
    `retry_after_s`: how long the ERP asked us to wait (`Retry-After` on a 429 or 503), if it said.
    """

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
