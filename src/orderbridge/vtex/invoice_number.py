"""Is an invoice number safe to use in VTEX URLs?

VTEX puts the invoice number into the path of the tracking endpoints
(``/invoice/{invoiceNumber}`` and ``.../tracking``). Characters that a URL router splits, decodes
or drops make those calls fail — even URL-encoded (``%2F`` is decoded back to ``/``), and the
damage cannot be repaired once the invoice exists (VTEX known issues 1302085, 953285, 631970,
409225). So such numbers are refused before the invoice is ever sent. Inner spaces are refused
too: KI 409225 (tracking on a number with a space answers 500) is still open.
"""

from __future__ import annotations

from .errors import InvalidInvoiceNumber

_FORBIDDEN = {
    "/": "'/' splits the URL path (tracking calls answer 404/400, even as %2F)",
    "#": "'#' starts a URL fragment, so VTEX never sees the rest of the number",
    "?": "'?' starts the URL query, so VTEX never sees the rest of the number",
    "%": "'%' starts a percent-escape that VTEX decodes (e.g. %2F becomes '/')",
    "\\": "'\\' is turned into '/' by some proxies",
}


def invoice_number_problem(invoice_number: str) -> str | None:
    """Say why ``invoice_number`` cannot be routed by VTEX, or None when it can."""
    if not invoice_number:
        return "it is empty"
    if invoice_number != invoice_number.strip():
        return "leading or trailing spaces break VTEX's post-purchase flow and tracking lookups"
    for char, reason in _FORBIDDEN.items():
        if char in invoice_number:
            return reason
    if any(c.isspace() for c in invoice_number):
        return "spaces inside the number make VTEX's tracking calls fail (known issue 409225)"
    if any(not c.isprintable() for c in invoice_number):
        return "it contains control characters"
    return None


def is_routable_invoice_number(invoice_number: str) -> bool:
    """True when VTEX can route ``invoice_number`` in its tracking URLs."""
    return invoice_number_problem(invoice_number) is None


def check_invoice_number(invoice_number: str) -> str:
    """Return ``invoice_number`` unchanged, or raise ``InvalidInvoiceNumber`` saying why it is refused."""
    problem = invoice_number_problem(invoice_number)
    if problem is not None:
        raise InvalidInvoiceNumber(invoice_number, problem)
    return invoice_number
