"""``VtexClient``: one verb-first async method per OMS endpoint the pipeline uses.

Methods only name the endpoint, shape the body and type the answer; everything about HTTP —
URLs, auth, rate limiting, retries, logging, errors — lives in ``VtexHttpClient`` (the policy),
over a transport that moves the bytes (aiohttp).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

from pydantic import BaseModel

from .credentials import Credentials
from .errors import NotFound
from .http_client import CallObserver, VtexHttpClient
from .invoice_number import check_invoice_number
from .listing import ListingReport, Slice, slice_plan
from .models import (
    CancelRequest,
    ChangeV1Request,
    ChangeV2Receipt,
    ChangeV2Request,
    ChangeV2Status,
    DenyCancellationRequest,
    FeedConfig,
    FeedItem,
    HookConfig,
    Invoice,
    Order,
    OrderPage,
    OrderSummary,
    Receipt,
    TrackingEvents,
    TrackingNumberPatch,
)
from .ratelimit import RateLimiter, make_limiter
from .retry import RetryPolicy
from .transports import HttpOptions

if TYPE_CHECKING:  # httpx2 is a test dependency: the in-process transports tests plug in
    import httpx2

FEED = "/api/orders/feed"
FEED_CONFIG = "/api/orders/feed/config"
HOOK_CONFIG = "/api/orders/hook/config"
ORDERS = "/api/oms/pvt/orders"
ORDER = "/api/oms/pvt/orders/{order_id}"
START_HANDLING = "/api/oms/pvt/orders/{order_id}/start-handling"
CANCEL = "/api/oms/pvt/orders/{order_id}/cancel"
DENY_CANCELLATION = "/api/orders/pvt/document/{order_id}/deny-cancellation-request"
CHANGES_V1 = "/api/oms/pvt/orders/{order_id}/changes"
CHANGES_V2 = "/api/order-system/orders/{order_id}/changes"
CHANGE_V2 = "/api/order-system/orders/{order_id}/changes/{change_request_id}"
INVOICE = "/api/oms/pvt/orders/{order_id}/invoice"
INVOICE_TRACKING_NUMBER = "/api/oms/pvt/orders/{order_id}/invoice/{invoice_number}"
INVOICE_TRACKING_EVENTS = "/api/oms/pvt/orders/{order_id}/invoice/{invoice_number}/tracking"

MAX_FEED_LOT = 10
MAX_LIST_PAGES = 30
MAX_PER_PAGE = 100
GET_ORDER_PER_MINUTE = 6000  # VTEX's published limit for Get order, per account


DEFAULT_BURST = 10
"""Calls an account's client-side bucket lets through at once (`requests_per_second` is the pace)."""


def pace_under(per_minute: int | None) -> tuple[float | None, int]:
    """A token bucket (rate, burst) that never puts more than the quota's per-second share into any one
    second: a bucket admits at most `rate + burst` calls a second.

    At high rates the bucket holds two tokens: a sleeper wakes a millisecond or two late when the event
    loop is busy, and with a single token that lateness is lost for good (at 100/s, nearly a tenth of
    the quota); the second token carries it over. Its price is one more call of rate: two back-to-back
    calls can straddle the edge of VTEX's counting window, and the slack keeps them under it."""
    if not per_minute:
        return None, 1
    per_second = per_minute / 60
    burst = 2 if per_second >= 20 else 1
    return max(per_second - 2 * burst + 1, per_second / 2), burst


class VtexClient:
    """Async client for one VTEX account (one appKey). Use as ``async with VtexClient(...) as vtex``.

    ``base_url`` replaces ``https://{account_name}.{environment}.com.br`` (sandbox, proxies);
    ``transport`` plugs an in-process transport (``httpx2.ASGITransport(app)``) for tests. Without
    one, calls go over aiohttp, which honours ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` and
    ``SSL_CERT_FILE``; ``ca_bundle`` adds CA certificates to trust (a TLS-inspecting proxy's root).
    ``timeout_s`` bounds the wait for an answer; ``connect_timeout_s`` the wait for a connection.
    ``requests_per_second``/``burst`` configure the client-side token bucket (None: no limit); pass
    ``limiter`` instead to share one bucket between several clients of the same account.
    ``get_order_per_minute`` paces Get order below VTEX's published quota for it (6000/min per
    account), so a busy pipeline is not answered 429s it could have avoided; None: no pacing.
    ``get_order_pace`` replaces that pace with a given limiter (one shared by a cluster's processes).
    """

    def __init__(
        self,
        account_name: str,
        app_key: str,
        app_token: str,
        environment: str = "vtexcommercestable",
        base_url: str | None = None,
        requests_per_second: float | None = None,
        burst: int = DEFAULT_BURST,
        timeout_s: float = 10.0,
        max_short_wait_s: float = 5.0,
        *,
        change_v1_timeout_s: float = 30.0,
        retry: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
        connect_timeout_s: float = 5.0,
        ca_bundle: Path | None = None,
        max_connections: int = 100,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        get_order_per_minute: int | None = GET_ORDER_PER_MINUTE,
        observer: CallObserver | None = None,
        get_order_pace: RateLimiter | None = None,
    ) -> None:
        self.account_name = account_name
        self.base_url = base_url or f"https://{account_name}.{environment}.com.br"
        # A full ``retry`` policy, when given, carries its own max_short_wait_s.
        policy = retry if retry is not None else RetryPolicy(max_short_wait_s=max_short_wait_s)
        # Change v1 is synchronous at VTEX and documented to need at least 20 s.
        self.change_v1_timeout_s = max(change_v1_timeout_s, 20.0)
        self._http = VtexHttpClient(
            self.base_url,
            Credentials(app_key, app_token),
            account_name=account_name,
            limiter=limiter or make_limiter(requests_per_second, burst),
            policy=policy,
            timeout_s=timeout_s,
            transport=transport,
            options=HttpOptions(
                connect_timeout_s=connect_timeout_s, max_connections=max_connections, ca_bundle=ca_bundle
            ),
            sleep=sleep,
            observer=observer,
        )

        self._get_order_pace = get_order_pace or make_limiter(*pace_under(get_order_per_minute))
        self.get_order_per_minute = get_order_per_minute

    @property
    def limiter(self) -> RateLimiter:
        """This client's rate limiter; pass it as ``limiter=`` to share it with another client."""
        return self._http.limiter

    @property
    def requests_per_minute(self) -> float | None:
        """The client-side limit on all of this account's calls, per minute (None: no limit here)."""
        rate = getattr(self._http.limiter, "rate", None)
        return float(rate) * 60 if rate is not None else None

    def add_observer(self, observer: CallObserver) -> None:
        """Tell `observer` of every HTTP attempt from now on (besides the ``observer=`` given at creation)."""
        self._http.observers.append(observer)

    def __repr__(self) -> str:
        return f"VtexClient(account_name={self.account_name!r}, base_url={self.base_url!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- feed -----------------------------------------------------------------------------------

    async def read_feed(self, maxlot: int = MAX_FEED_LOT) -> list[FeedItem]:
        """Take up to ``maxlot`` (1..10) events; they stay hidden until committed or the visibility
        timeout passes. Fewer than ``maxlot`` does not mean the queue is empty."""
        if not 1 <= maxlot <= MAX_FEED_LOT:
            raise ValueError(f"maxlot must be between 1 and {MAX_FEED_LOT}, got {maxlot}")
        return await self._http.request_as(_feed_items, "GET", FEED, params={"maxlot": maxlot})

    async def commit_feed(self, handles: Sequence[str]) -> None:
        """Delete events by handle. Safe to repeat, so it is retried like a GET."""
        if not handles:
            return
        await self._http.request("POST", FEED, body={"handles": list(handles)}, idempotent=True)

    async def get_feed_config(self) -> FeedConfig | None:
        """The feed configuration of this appKey, or None when there is none."""
        try:
            return await self._http.request_as(_optional(FeedConfig), "GET", FEED_CONFIG)
        except NotFound:
            return None

    async def put_feed_config(self, config: FeedConfig) -> None:
        """Create or replace the feed configuration (VTEX's POST; replacing is idempotent)."""
        await self._http.request("POST", FEED_CONFIG, body=config.to_vtex(), idempotent=True)

    async def delete_feed_config(self) -> None:
        """Remove the feed configuration; already absent counts as done."""
        try:
            await self._http.request("DELETE", FEED_CONFIG)
        except NotFound:
            return

    # -- hook -----------------------------------------------------------------------------------

    async def get_hook_config(self) -> HookConfig | None:
        try:
            return await self._http.request_as(_optional(HookConfig), "GET", HOOK_CONFIG)
        except NotFound:
            return None

    async def put_hook_config(self, config: HookConfig) -> None:
        """Create or replace the hook; VTEX pings the URL first and answers 400 (``Rejected``) if the
        receiver does not answer 200."""
        await self._http.request("POST", HOOK_CONFIG, body=config.to_vtex(), idempotent=True)

    async def delete_hook_config(self) -> None:
        try:
            await self._http.request("DELETE", HOOK_CONFIG)
        except NotFound:
            return

    # -- orders ---------------------------------------------------------------------------------

    async def get_order(self, order_id: str) -> Order:
        """Get order (``order_id`` may also be ``seq<sequence>``); ``order.raw`` is the document."""
        await self._get_order_pace.acquire()
        return await self._http.request_as(
            Order.from_json, "GET", ORDER, path_params={"order_id": order_id}, decode=False
        )

    async def list_orders_page(
        self,
        page: int = 1,
        *,
        status: str | Sequence[str] | None = None,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        per_page: int = MAX_PER_PAGE,
        order_by: str = "creationDate,asc",
    ) -> OrderPage:
        """One page of List orders. An index ~4 minutes late: use it to find orders, then Get them."""
        params: dict[str, str | int] = {"page": page, "per_page": min(per_page, MAX_PER_PAGE)}
        params["orderBy"] = order_by
        if status:
            params["f_status"] = status if isinstance(status, str) else ",".join(status)
        if created_from or created_to:
            span = f"{_solr_time(created_from)} TO {_solr_time(created_to)}"
            params["f_creationDate"] = f"creationDate:[{span}]"
        return await self._http.request_as(OrderPage.model_validate, "GET", ORDERS, params=params)

    async def list_orders(
        self,
        status: str | Sequence[str] | None = None,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        per_page: int = MAX_PER_PAGE,
        max_pages: int = MAX_LIST_PAGES,
        *,
        order_by: str = "creationDate,asc",
    ) -> AsyncIterator[OrderSummary]:
        """The orders of one query, page after page, never beyond VTEX's 30-page cap: past 3,000 orders
        the rest is silently out of reach — `list_orders_in_slices` sees them all.

        Oldest first by default, so orders created during the sweep land on later pages instead of
        shifting the ones not read yet.
        """
        last_page = min(max_pages, MAX_LIST_PAGES)
        page = 1
        while page <= last_page:
            result = await self.list_orders_page(
                page,
                status=status,
                created_from=created_from,
                created_to=created_to,
                per_page=per_page,
                order_by=order_by,
            )
            for summary in result.orders:
                yield summary
            if not result.orders or page >= result.paging.pages:
                return
            page += 1

    async def list_orders_in_slices(
        self,
        created_from: datetime,
        created_to: datetime,
        status: Sequence[str] = (),
        *,
        per_page: int = MAX_PER_PAGE,
        report: ListingReport | None = None,
    ) -> AsyncIterator[OrderSummary]:
        """Every order created in [created_from, created_to] (in one of `status`, if given), whatever
        the volume: VTEX reads at most 30 pages of one query, so a slice with more orders than that is
        split into narrower `f_creationDate` slices (`slice_plan`) until each fits.

        Newest slice first, each slice newest first: what a busy period hides is found first, and an
        order created while a slice is read shifts the rest down a page (read twice), not up (missed).
        Neighbouring slices share their bounds, so an order may come twice: callers dedupe by id.
        ``report`` counts what it cost (calls, slices, splits).
        """
        report = report if report is not None else ListingReport()
        per_page = min(per_page, MAX_PER_PAGE)
        pending = [Slice(created_from, created_to, tuple(status))]
        while pending:
            part = pending.pop()
            first = await self._slice_page(part, 1, per_page)
            report.calls += 1
            smaller = slice_plan(part, first.paging.total, per_page * MAX_LIST_PAGES)
            if smaller:
                report.splits += 1
                pending.extend(reversed(smaller))  # popped newest first
                continue
            report.slices += 1
            if first.paging.total > per_page * MAX_LIST_PAGES:
                report.truncated.append(part.describe(first.paging.total))
            for summary in first.orders:
                yield summary
            for page in range(2, min(first.paging.pages, MAX_LIST_PAGES) + 1):
                result = await self._slice_page(part, page, per_page)
                report.calls += 1
                for summary in result.orders:
                    yield summary
                if not result.orders:
                    break

    async def _slice_page(self, part: Slice, page: int, per_page: int) -> OrderPage:
        return await self.list_orders_page(
            page,
            status=list(part.statuses) or None,
            created_from=part.start,
            created_to=part.end,
            per_page=per_page,
            order_by="creationDate,desc",
        )

    async def start_handling(self, order_id: str) -> None:
        """``ready-for-handling`` → ``handling``. A 409 (``Conflict``, code ``OMS003``) means the
        order is in another status — re-read it, it may already be handling. Never retried blindly."""
        await self._http.request("POST", START_HANDLING, path_params={"order_id": order_id})

    async def cancel_order(self, order_id: str, reason: str, requested_by_user: bool = False) -> Receipt:
        """Ask VTEX to cancel; the order passes through ``cancel`` and becomes ``canceled`` later."""
        body = CancelRequest(reason=reason, requested_by_user=requested_by_user).to_vtex()
        return await self._http.request_as(
            _receipt, "POST", CANCEL, path_params={"order_id": order_id}, body=body
        )

    async def deny_cancellation_request(
        self, order_id: str, cancellation_request_id: str, reason: str
    ) -> None:
        """Refuse a customer's cancellation request; the order goes back to its previous status."""
        body = DenyCancellationRequest(
            cancellation_request_id=cancellation_request_id, deny_reason=reason
        ).to_vtex()
        await self._http.request("POST", DENY_CANCELLATION, path_params={"order_id": order_id}, body=body)

    # -- changes --------------------------------------------------------------------------------

    async def send_change_v1(self, order_id: str, change: ChangeV1Request) -> Receipt:
        """Change v1 (synchronous, hence the long timeout). VTEX applies one change per request_id."""
        return await self._http.request_as(
            _receipt,
            "POST",
            CHANGES_V1,
            path_params={"order_id": order_id},
            body=change.to_vtex(),
            timeout_s=self.change_v1_timeout_s,
        )

    async def send_change_v2(self, order_id: str, change: ChangeV2Request) -> ChangeV2Receipt:
        """Submit an order modification (202); poll ``get_change_v2`` until it is done or canceled.

        A PATCH, but it creates a change request, so it is treated like a non-idempotent POST.
        """
        return await self._http.request_as(
            ChangeV2Receipt.model_validate,
            "PATCH",
            CHANGES_V2,
            path_params={"order_id": order_id},
            params={"accountName": self.account_name},
            body=change.to_vtex(),
            idempotent=False,
        )

    async def get_change_v2(self, order_id: str, change_request_id: str) -> ChangeV2Status:
        return await self._http.request_as(
            ChangeV2Status.model_validate,
            "GET",
            CHANGE_V2,
            path_params={"order_id": order_id, "change_request_id": change_request_id},
            params={"accountName": self.account_name},
        )

    # -- invoices and tracking ------------------------------------------------------------------

    async def send_invoice(self, order_id: str, invoice: Invoice) -> Receipt:
        """Notify an invoice. Never resent on 5xx/timeout: an ``Unavailable(may_have_landed=True)``
        tells the caller to read the order's packages before sending it again."""
        check_invoice_number(invoice.invoice_number)
        return await self._http.request_as(
            _receipt, "POST", INVOICE, path_params={"order_id": order_id}, body=invoice.to_vtex()
        )

    async def patch_tracking_number(
        self, order_id: str, invoice_number: str, patch: TrackingNumberPatch
    ) -> Receipt:
        check_invoice_number(invoice_number)
        return await self._http.request_as(
            _receipt,
            "PATCH",
            INVOICE_TRACKING_NUMBER,
            path_params={"order_id": order_id, "invoice_number": invoice_number},
            body=patch.to_vtex(),
        )

    async def send_tracking_events(
        self, order_id: str, invoice_number: str, events: TrackingEvents
    ) -> Receipt:
        check_invoice_number(invoice_number)
        return await self._http.request_as(
            _receipt,
            "PUT",
            INVOICE_TRACKING_EVENTS,
            path_params={"order_id": order_id, "invoice_number": invoice_number},
            body=events.to_vtex(),
        )


def _receipt(data: Any) -> Receipt:
    """A receipt; an empty 2xx body (some routes answer 200/204 without one) gives an empty receipt."""
    return Receipt() if data is None else Receipt.model_validate(data)


def _feed_items(data: Any) -> list[FeedItem]:
    if data is None:
        return []
    if not isinstance(data, list):
        raise TypeError(f"expected a list of feed events, got {type(data).__name__}")
    return [FeedItem.model_validate(item) for item in data]


M = TypeVar("M", bound=BaseModel)


def _optional(model: type[M]) -> Callable[[Any], M | None]:
    """Parse a config document; an empty body means "no configuration"."""

    def parse(data: Any) -> M | None:
        return None if not data else model.model_validate(data)

    return parse


def _solr_time(moment: datetime | None) -> str:
    if moment is None:
        return "*"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
