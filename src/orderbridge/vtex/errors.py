"""The error taxonomy callers branch on.

Each error carries the HTTP method, the path (with ids, never the query or headers), the status and
VTEX's own error code and message. Messages are redacted by the transport before an error is built,
so neither ``str()`` nor ``repr()`` of an error can reveal the appKey or appToken.

Every constructor argument has a default so that other rooms can build these errors in their own
fakes (``RateLimited(retry_after=30)``, ``Unavailable(may_have_landed=True)``).
"""

from __future__ import annotations


class VtexError(Exception):
    """Any failure of a VTEX call (or a request refused before it was sent)."""

    def __init__(
        self,
        method: str = "",
        path: str = "",
        status: int | None = None,
        code: str | None = None,
        message: str = "",
    ) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.code = code
        self.message = message
        super().__init__(self._describe())

    def _describe(self) -> str:
        where = f"{self.method} {self.path}".strip() or "VTEX call"
        status = f" -> {self.status}" if self.status is not None else ""
        code = f" [{self.code}]" if self.code else ""
        message = f": {self.message}" if self.message else ""
        return f"{where}{status}{code}{message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._describe()!r})"


class AuthError(VtexError):
    """401/403: the key is wrong or lacks a License Manager resource. Pause the account, alert a person."""


class NotFound(VtexError):
    """404: unknown order (VTEX code OMS007), or no feed/hook configuration for this appKey."""


class Conflict(VtexError):
    """409: the order is not in a state that allows the action (``code`` e.g. ``OMS003``). Re-read it."""


class Rejected(VtexError):
    """Any other 4xx: VTEX refused the request and said why in ``message``. Retrying will not help."""


class RateLimited(VtexError):
    """429 whose wait is too long to sleep inside the call: reschedule the work after ``retry_after`` s."""

    def __init__(
        self,
        method: str = "",
        path: str = "",
        status: int | None = 429,
        code: str | None = None,
        message: str = "",
        *,
        retry_after: float = 60.0,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(method, path, status, code, message)

    def _describe(self) -> str:
        return f"{super()._describe()} (retry after {self.retry_after:g} s)"


class Unavailable(VtexError):
    """5xx, timeout or connection failure that retries did not cure (or that must not be retried).

    ``may_have_landed`` is True when the request had been sent and VTEX may have acted on it (a
    non-idempotent POST answered 5xx, timed out or lost its connection): read the order before
    sending it again. It is False when the request provably never left (connection refused).
    """

    def __init__(
        self,
        method: str = "",
        path: str = "",
        status: int | None = None,
        code: str | None = None,
        message: str = "",
        *,
        may_have_landed: bool = False,
    ) -> None:
        self.may_have_landed = may_have_landed
        super().__init__(method, path, status, code, message)

    def _describe(self) -> str:
        if not self.may_have_landed:
            return super()._describe()
        landed = "; the request may have landed, read the order before retrying"
        return f"{super()._describe()}{landed}"


class InvalidResponse(Unavailable):
    """VTEX answered 2xx but the body is not what the endpoint documents (e.g. an HTML error page).

    A kind of ``Unavailable``: for a write, the request did reach VTEX (``may_have_landed``), so
    callers that re-read the order on ``Unavailable`` do the right thing here too.
    """


class InvalidInvoiceNumber(VtexError, ValueError):
    """An invoice number VTEX cannot route in a URL; refused before any request is sent."""

    def __init__(self, invoice_number: str, reason: str) -> None:
        self.invoice_number = invoice_number
        self.reason = reason
        super().__init__(message=f"invoice number {invoice_number!r} cannot be used: {reason}")
