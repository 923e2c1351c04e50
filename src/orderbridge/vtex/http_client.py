"""The one place that talks HTTP to VTEX: the client layer (policy), over a ``Transport`` (bytes).

It builds URLs (quoting every id), adds the auth and JSON headers, waits for the rate limiter,
sends, logs one structured event per attempt (secrets never included), retries what is safe to
retry, and turns every failure into an error of the taxonomy in ``errors``.

Retry rules (see ``RetryPolicy`` for the numbers):

* 429 — the request was not processed, so any method may wait: a ``Retry-After`` of at most
  ``max_short_wait_s`` is slept and the call repeated; a longer one (or a 429 without the header,
  or 429s that keep coming) raises ``RateLimited`` so that the caller frees its worker. Inside
  ``retry.retry_after_rescheduled`` (a job on procrastinate) every 429 raises ``RateLimited``.
* 5xx, timeouts, dropped connections — retried with full-jitter exponential backoff only when the
  call is idempotent. A non-idempotent POST is never resent once it may have reached VTEX: it
  raises ``Unavailable(may_have_landed=True)`` so the caller reads the order first.
* Connection refused / connect timeout / no pooled connection / proxy or TLS refusal — the request
  never left, so it is retried like an idempotent call whatever the method, and ``may_have_landed``
  stays False.

Bytes move through a ``Transport`` (see ``transports``): aiohttp in production; a caller's own
``httpx2.AsyncBaseTransport`` (in-process ASGI apps in tests) through ``HttpxTransport``, imported
only then (httpx2 is a test dependency). Both report failures the same way (``SendFailed``: a kind
and whether it may have been sent).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlsplit

import orjson
import structlog
from pydantic import ValidationError

from .credentials import Credentials
from .error_body import clip, error_details
from .errors import (
    AuthError,
    Conflict,
    InvalidResponse,
    NotFound,
    RateLimited,
    Rejected,
    Unavailable,
    VtexError,
)
from .ratelimit import RateLimiter, Unlimited
from .retry import RetryPolicy, parse_retry_after, sleeps_retry_after
from .transports import (
    AiohttpTransport,
    HttpOptions,
    QueryParams,
    Reply,
    SendFailed,
    Transport,
    request_target,
)

if TYPE_CHECKING:  # httpx2 is a test dependency: in-process apps plugged in by tests
    import httpx2

log = structlog.get_logger("orderbridge.vtex")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE"})
_USER_AGENT = "orderbridge-vtex/0.1"

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class VtexCall:
    """One HTTP attempt, as observers are told of it. Nothing secret: `path` has the ids filled in but
    no query string and no header, and `error` is a failure's kind ("timeout", "connect"…), not its text."""

    account: str
    method: str
    endpoint: str
    """The path template (`/api/oms/pvt/orders/{order_id}`): a label with few values, for metrics."""
    path: str
    order_id: str | None
    """The order the call is about (its `{order_id}` path parameter); None for feed and config calls."""
    status: int | None
    """VTEX's HTTP status; None when no answer came (see `error`)."""
    error: str | None
    seconds: float
    attempt: int
    """1 for the first attempt of a logical call, 2 for its first repeat (after a 429, a 5xx…)."""
    retry_after: float | None
    started_at: datetime


CallObserver = Callable[[VtexCall], None]
"""Told of every attempt, synchronously, on the event loop (so it must be quick and must not raise):
how metrics and the order timeline see VTEX calls without this package importing them."""


def build_path(template: str, path_params: Mapping[str, str]) -> str:
    """Fill ``template`` with percent-quoted ids, so an id can never change the route."""
    return template.format(**{name: quote(str(value), safe="") for name, value in path_params.items()})


class VtexHttpClient:
    """VTEX's rules for one account over a ``Transport``: auth headers, rate limit, retries, errors,
    one log event per attempt. ``timeout_s`` bounds the wait for an answer (the read timeout);
    connecting has its own bound in ``options``."""

    def __init__(
        self,
        base_url: str,
        credentials: Credentials,
        *,
        account_name: str,
        limiter: RateLimiter | None = None,
        policy: RetryPolicy | None = None,
        timeout_s: float = 10.0,
        transport: httpx2.AsyncBaseTransport | None = None,
        options: HttpOptions | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        observer: CallObserver | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._host = urlsplit(self.base_url).netloc
        self.observers: list[CallObserver] = [observer] if observer is not None else []
        self.account_name = account_name
        self._credentials = credentials
        self.limiter = limiter or Unlimited()
        self.policy = policy or RetryPolicy()
        self.timeout_s = timeout_s
        self._sleep = sleep
        headers = {
            **credentials.headers(),
            "Accept": "application/json",
            "Accept-Encoding": "gzip, deflate",
            "Content-Type": "application/json",
            "User-Agent": _USER_AGENT,
        }
        self._transport = _transport(self.base_url, headers, transport, options)

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def request(
        self,
        method: str,
        template: str,
        *,
        path_params: Mapping[str, str] | None = None,
        params: QueryParams | None = None,
        body: Any = None,
        idempotent: bool | None = None,
        timeout_s: float | None = None,
        decode: bool = True,
    ) -> Any:
        """Send one logical call; return the decoded JSON body (None when empty) or raise a VtexError.

        ``decode=False``: the body's bytes as they came (for a caller that validates the JSON text
        itself)."""
        method = method.upper()
        path = build_path(template, path_params or {})
        order_id = (path_params or {}).get("order_id")
        target = request_target(path, params)
        safe_to_repeat = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        content = orjson.dumps(body) if body is not None else None
        timeout = timeout_s or self.timeout_s
        writes = method != "GET"
        failures = 0
        waits_429 = 0
        attempt = 0
        reached_vtex = False  # did any failed attempt possibly reach VTEX?
        while True:
            attempt += 1
            await self.limiter.acquire()
            started = time.perf_counter()
            try:
                response = await self._transport.send(method, target, content, timeout)
            except SendFailed as failure:
                failures += 1
                reached_vtex = reached_vtex or failure.sent
                retrying = (safe_to_repeat or not failure.sent) and failures < self.policy.attempts
                wait = self.policy.backoff_s(failures) if retrying else None
                self._log(
                    method,
                    path,
                    attempt,
                    started,
                    status=None,
                    error=failure.kind,
                    endpoint=template,
                    wait=wait,
                    order_id=order_id,
                )
                if wait is not None:
                    await self._sleep(wait)
                    continue
                raise Unavailable(
                    method,
                    path,
                    None,
                    None,
                    failure.kind,
                    may_have_landed=reached_vtex and writes,
                ) from None
            status = response.status
            retry_5xx = status >= 500 and safe_to_repeat and failures + 1 < self.policy.attempts
            backoff = self.policy.backoff_s(failures + 1) if retry_5xx else None
            self._log(
                method,
                path,
                attempt,
                started,
                status=status,
                endpoint=template,
                reply=response,
                wait=backoff,
                order_id=order_id,
            )
            if status < 300:
                return _decode(response.content) if decode else response.content
            if status == 429:
                wait = self._rate_limit_wait(method, path, response, waits_429)
                waits_429 += 1
                await self._sleep(wait)
                continue
            if status >= 500:
                failures += 1
                if backoff is not None:
                    await self._sleep(backoff)
                    continue
            raise self._error(method, path, response, may_have_landed=writes)

    async def request_as(
        self,
        parse: Callable[[Any], T],
        method: str,
        template: str,
        *,
        path_params: Mapping[str, str] | None = None,
        params: QueryParams | None = None,
        body: Any = None,
        idempotent: bool | None = None,
        timeout_s: float | None = None,
        decode: bool = True,
    ) -> T:
        """Like ``request``, then ``parse`` the body; an unreadable body raises ``InvalidResponse``."""
        data = await self.request(
            method,
            template,
            path_params=path_params,
            params=params,
            body=body,
            idempotent=idempotent,
            timeout_s=timeout_s,
            decode=decode,
        )
        try:
            return parse(data)
        except (ValidationError, ValueError, TypeError) as exc:
            path = build_path(template, path_params or {})
            message = self._credentials.redact(clip(f"unreadable response: {exc}"))
            raise InvalidResponse(
                method.upper(), path, None, None, message, may_have_landed=method.upper() != "GET"
            ) from None

    def _rate_limit_wait(self, method: str, path: str, response: Reply, waits_so_far: int) -> float:
        """Seconds to sleep before repeating a 429, or raise RateLimited when that is too long."""
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        code, message = error_details(response.content)
        message = self._credentials.redact(message)
        if retry_after is None:
            raise RateLimited(method, path, 429, code, message, retry_after=self.policy.default_retry_after_s)
        too_long = not sleeps_retry_after(self.policy, retry_after)
        if too_long or waits_so_far >= self.policy.max_rate_limit_retries:
            raise RateLimited(method, path, 429, code, message, retry_after=max(retry_after, 1.0))
        return retry_after

    def _error(self, method: str, path: str, response: Reply, *, may_have_landed: bool) -> VtexError:
        status = response.status
        code, message = error_details(response.content)
        message = self._credentials.redact(message)
        if status >= 500:
            return Unavailable(method, path, status, code, message, may_have_landed=may_have_landed)
        error_type: type[VtexError]
        if status in (401, 403):
            error_type = AuthError
        elif status == 404:
            error_type = NotFound
        elif status == 409:
            error_type = Conflict
        elif 400 <= status < 500:
            error_type = Rejected
        else:
            error_type = VtexError
        return error_type(method, path, status, code, message)

    def _log(
        self,
        method: str,
        path: str,
        attempt: int,
        started: float,
        *,
        status: int | None,
        error: str = "",
        endpoint: str = "",
        reply: Reply | None = None,
        wait: float | None = None,
        order_id: str | None = None,
    ) -> None:
        elapsed = time.perf_counter() - started
        duration_ms = round(elapsed * 1000, 1)
        if self.observers:
            retry_after = None
            if status == 429 and reply is not None:
                retry_after = parse_retry_after(reply.headers.get("retry-after"))
            call = VtexCall(
                account=self.account_name,
                method=method,
                endpoint=endpoint or path,
                path=path,
                order_id=order_id,
                status=status,
                error=error or None,
                seconds=elapsed,
                attempt=attempt,
                retry_after=retry_after,
                started_at=datetime.fromtimestamp(time.time() - elapsed, UTC),
            )
            for observer in self.observers:
                observer(call)
        fields: dict[str, Any] = {
            "account": self.account_name,
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": duration_ms,
            "attempt": attempt,
        }
        if error:
            fields["error"] = error
        if status is not None and status < 400:
            # Debug: a call that worked (an idle feed poll above all) is the metrics' business, and the
            # order's steps are logged by the pipeline (`order_step`).
            log.debug("vtex.call", **fields)
            return
        fields["host"] = self._host
        if wait is not None:
            fields["retry_in_s"] = round(wait, 2)
        log.warning("vtex.call", **fields)


def _transport(
    base_url: str,
    headers: dict[str, str],
    transport: httpx2.AsyncBaseTransport | None,
    options: HttpOptions | None,
) -> Transport:
    """A caller's httpx2 transport (in-process apps) if given, else aiohttp."""
    if transport is not None:
        from .httpx_transport import HttpxTransport

        return HttpxTransport(transport, base_url, headers)
    return AiohttpTransport(base_url, headers, options)


def _decode(content: bytes) -> Any:
    if not content.strip():
        return None
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return content.decode("utf-8", errors="replace")
