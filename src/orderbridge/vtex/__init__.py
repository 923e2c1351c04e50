"""Speak VTEX: typed models and the async OMS client. Imports nothing else of orderbridge.

async with VtexClient("mystore", app_key, app_token) as vtex:
    order = await vtex.get_order("1172452900788-01")
"""

from .client import VtexClient
from .credentials import Credentials
from .errors import (
    AuthError,
    Conflict,
    InvalidInvoiceNumber,
    InvalidResponse,
    NotFound,
    RateLimited,
    Rejected,
    Unavailable,
    VtexError,
)
from .http_client import CallObserver, VtexCall, VtexHttpClient
from .invoice_number import check_invoice_number, invoice_number_problem, is_routable_invoice_number
from .listing import ListingReport
from .models import *  # noqa: F403 - the models are part of this package's public surface
from .models import __all__ as _models_all
from .ratelimit import RateLimiter, TokenBucket, Unlimited
from .retry import RetryPolicy, parse_retry_after, retry_after_rescheduled
from .transports import HttpOptions

__all__ = [
    "VtexClient",
    "HttpOptions",
    "ListingReport",
    "VtexHttpClient",
    "VtexCall",
    "CallObserver",
    "Credentials",
    "RetryPolicy",
    "RateLimiter",
    "TokenBucket",
    "Unlimited",
    "parse_retry_after",
    "retry_after_rescheduled",
    "VtexError",
    "AuthError",
    "NotFound",
    "Conflict",
    "Rejected",
    "RateLimited",
    "Unavailable",
    "InvalidInvoiceNumber",
    "InvalidResponse",
    "check_invoice_number",
    "invoice_number_problem",
    "is_routable_invoice_number",
    *_models_all,
]
