"""Errors an ERP adapter raises. A business "no" is a `Rejected` result, never an exception."""

from __future__ import annotations


class ErpError(Exception):
    """Base of the ERP adapters' errors."""


class ErpUnavailable(ErpError):
    """The ERP could not be reached or answered with a transient failure: the pipeline retries the job."""
