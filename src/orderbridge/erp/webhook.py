"""The webhook ERP adapter: orderbridge POSTs each order and each cancellation notice to the ERP's URL.

Every body is signed: `X-Orderbridge-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + the
exact body bytes>` with the shared secret (Stripe's scheme), so the ERP can refuse anything that did not
come from orderbridge, and a captured delivery replayed more than 5 minutes later (`verify_signature` is
the reference check, also used by the tests playing the ERP). No secret, no adapter.

Only an explicit answer is a business decision (docs/erp-api.md). For an order handover:
- 2xx → accepted; a JSON body may carry `{"erpReference": "..."}`. 202 → the ERP will decide later and
  report through `POST /api/v1/orders/{orderId}/acceptance` (`AcceptanceLater`). A 2xx body
  `{"accepted": false, "reason": "..."}` is a refusal.
- 409 or 422 with a JSON `{"reason": "..."}` → rejected with that reason: parked for an operator.
- anything else — 401/403 (a wrong secret or URL), 404, 405, 407, 408, 429, 5xx, a 409/422 without a
  reason, a timeout, a connection failure — decides nothing: `ErpUnavailable`, the pipeline retries with
  backoff (honouring `Retry-After`) and reports the ERP channel unhealthy if it keeps failing. A
  receiver answering 401 to every delivery must not park every order as "rejected".
A handover may be delivered twice (retries): `X-Orderbridge-Delivery` is stable per order and event,
so the ERP can recognise a repeat and answer it like the first one.

Deliveries go over aiohttp, connected as every outgoing call is (`orderbridge.http_session`): the
proxy named by `HTTP_PROXY`/`HTTPS_PROXY` unless `NO_PROXY` names the ERP's host, the system trust
store plus the optional `ca_bundle`, connecting bounded apart from waiting for the answer. Redirects
are not followed (the signature would travel to wherever a redirect points).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import aiohttp
import orjson
from yarl import URL

from orderbridge.erp.errors import ErpUnavailable
from orderbridge.erp.port import (
    AcceptanceLater,
    Accepted,
    CancellationDecision,
    CommandSink,
    HandoverOrder,
    HandoverResult,
    Rejected,
)
from orderbridge.http_session import HttpOptions, client_session, client_timeout, env_proxy, failure_of
from orderbridge.vtex.retry import parse_retry_after

SIGNATURE_HEADER = "X-Orderbridge-Signature"
EVENT_HEADER = "X-Orderbridge-Event"
DELIVERY_HEADER = "X-Orderbridge-Delivery"
_REFUSAL_STATUSES = frozenset({409, 422})  # with a JSON reason, the ERP's explicit "no"
_MAX_REASON = 500
#: How old (or how far in the future) a signed timestamp may be; receivers should use the same.
SIGNATURE_TOLERANCE_S = 300
_CONTROL_RUN = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, *, now: float | None = None) -> str:
    """`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>`: the time is signed with the body, so a
    captured delivery is refused once it is older than the receiver's tolerance."""
    timestamp = int(time.time() if now is None else now)
    return f"t={timestamp},v1={_digest(secret, timestamp, body)}"


def verify_signature(
    secret: str,
    body: bytes,
    header: str | None,
    *,
    now: float | None = None,
    tolerance_s: float = SIGNATURE_TOLERANCE_S,
) -> bool:
    """The receiver's check (reference for ERPs, used by the tests playing the ERP): the timestamp is
    within `tolerance_s` of now and one `v1` matches, compared in constant time."""
    if header is None:
        return False
    parts = [part.strip().partition("=") for part in header.split(",")]
    stamps = [value for name, _, value in parts if name == "t"]
    if len(stamps) != 1 or not stamps[0].isdigit():
        return False
    timestamp = int(stamps[0])
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    expected = _digest(secret, timestamp, body)
    return any(hmac.compare_digest(expected, value) for name, _, value in parts if name == "v1")


@dataclass(frozen=True)
class WebhookConfig:
    """Where to POST, the shared secret (never logged), how long to wait for the ERP's answer
    (`timeout_s`) and for a connection (`connect_timeout_s`), and extra CA certificates to trust."""

    url: str
    secret: str
    timeout_s: float = 10.0
    connect_timeout_s: float = 5.0
    ca_bundle: Path | None = None

    def __post_init__(self) -> None:
        if not self.secret.strip():
            raise ValueError("the webhook adapter needs a signing secret ([erp.webhook] secret)")

    def __repr__(self) -> str:
        return (
            f"WebhookConfig(url={self.url!r}, secret=<hidden>, timeout_s={self.timeout_s}, "
            f"connect_timeout_s={self.connect_timeout_s}, ca_bundle={self.ca_bundle!r})"
        )


class Answer(NamedTuple):
    """The ERP's answer, read in full. ``headers`` answers any spelling of a name."""

    status: int
    headers: Mapping[str, str]
    content: bytes

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300


class WebhookErp:
    """`ErpAdapter` over HTTP. One connection pool; no background work of its own."""

    name = "webhook"

    def __init__(self, config: WebhookConfig) -> None:
        self._config = config
        self._session: aiohttp.ClientSession | None = None
        self._proxy: URL | None = None
        self._proxy_auth: aiohttp.BasicAuth | None = None
        self._timeout = client_timeout(config.connect_timeout_s, config.timeout_s)
        self._sink: CommandSink | None = None

    async def start(self, sink: CommandSink) -> None:
        self._sink = sink
        options = HttpOptions(
            connect_timeout_s=self._config.connect_timeout_s, ca_bundle=self._config.ca_bundle
        )
        self._proxy, self._proxy_auth = env_proxy(self._config.url)
        self._session = client_session(options)

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def hand_over(self, order: HandoverOrder) -> HandoverResult:
        body = {
            "event": "order",
            "account": order.account,
            "orderId": order.order_id,
            "order": order.snapshot.to_dict(),
            "raw": order.raw,
        }
        response = await self._post("order", f"{order.account}:{order.order_id}:order", body)
        if response.status == 202:
            return AcceptanceLater()
        if response.is_success:
            if _json_field(response, "accepted") is False:
                return Rejected(reason=_explicit_reason(response) or "refused by the ERP without a reason")
            reference = _json_field(response, "erpReference")
            return Accepted(erp_reference=str(reference) if reference is not None else None)
        return Rejected(reason=_refusal(response))

    async def notify_canceled(self, account: str, order_id: str, reason: str | None) -> None:
        body = {"event": "order-canceled", "account": account, "orderId": order_id, "reason": reason}
        response = await self._post("order-canceled", f"{account}:{order_id}:canceled", body)
        if not response.is_success:
            # A notice the ERP refuses cannot be "fixed" by us; retrying would loop. Keep it visible.
            raise ErpUnavailable(f"the ERP refused the cancellation notice: HTTP {response.status}")

    async def request_cancellation(
        self, account: str, order_id: str, request_id: str | None, reason: str | None
    ) -> CancellationDecision | None:
        """2xx `{"accept": bool, "reason": str}` decides now, as does a 409/422 `{"reason": str}` (a denial);
        202 → the ERP answers later via the API. Anything else decides nothing (`ErpUnavailable`)."""
        body = {
            "event": "cancellation-requested",
            "account": account,
            "orderId": order_id,
            "requestId": request_id,
            "reason": reason,
        }
        response = await self._post(
            "cancellation-requested", f"{account}:{order_id}:cancel:{request_id}", body
        )
        if response.status == 202:
            return None
        if response.is_success:
            accept = _json_field(response, "accept")
            if not isinstance(accept, bool):
                raise ErpUnavailable('the ERP answered a cancellation request without a boolean "accept"')
            said = _json_field(response, "reason")
            return CancellationDecision(accept=accept, reason=_plain(str(said)) if said else "")
        return CancellationDecision(accept=False, reason=_refusal(response))

    async def _post(self, event: str, delivery: str, payload: dict[str, Any]) -> Answer:
        if self._session is None:
            raise ErpUnavailable("the webhook adapter is not started")
        body = orjson.dumps(payload)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(self._config.secret, body),
            EVENT_HEADER: event,
            DELIVERY_HEADER: delivery,
        }
        response = await self._exchange(self._session, body, headers)
        if 300 <= response.status < 400:
            raise ErpUnavailable(f"the ERP answered a redirect (HTTP {response.status}); check the URL")
        if response.status >= 400 and response.status not in _REFUSAL_STATUSES:
            raise ErpUnavailable(
                f"the ERP answered HTTP {response.status}{_hint(response.status)}",
                retry_after_s=parse_retry_after(response.headers.get("Retry-After")),
            )
        return response

    async def _exchange(self, session: aiohttp.ClientSession, body: bytes, headers: dict[str, str]) -> Answer:
        """POST and read the whole answer. A failure names only its kind: aiohttp's text may carry the
        URL, which may carry a credential."""
        try:
            async with session.post(
                self._config.url,
                data=body,
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,
                proxy=self._proxy,
                proxy_auth=self._proxy_auth,
            ) as response:
                return Answer(response.status, response.headers, await response.read())
        except Exception as exc:
            failure = failure_of(exc)
            if failure is None:
                raise
            if failure.timed_out and failure.sent:
                raise ErpUnavailable(f"the ERP did not answer within {self._config.timeout_s} s") from None
            raise ErpUnavailable(f"the ERP could not be reached ({failure.kind})") from None


def _json_field(response: Answer, name: str) -> object:
    try:
        data = orjson.loads(response.content)
    except (ValueError, RecursionError):  # not JSON, or nested too deep to decode: no such field
        return None
    return data.get(name) if isinstance(data, dict) else None


def _explicit_reason(response: Answer) -> str | None:
    reason = _json_field(response, "reason")
    if not isinstance(reason, str) or not _plain(reason):
        return None
    return _plain(reason)


def _plain(text: str) -> str:
    """The ERP's reason as VTEX may receive it: control characters (CR, LF, ESC…) become one space."""
    return _CONTROL_RUN.sub(" ", text).strip()[:_MAX_REASON]


def _refusal(response: Answer) -> str:
    """The reason of a 409/422 refusal; without one the answer is no decision (a proxy's or a framework's
    error page carries no `reason`), so it is retried like any other failure."""
    reason = _explicit_reason(response)
    if reason is None:
        raise ErpUnavailable(f'the ERP answered HTTP {response.status} without a JSON "reason"')
    return reason


def _hint(status: int) -> str:
    if status in (401, 403):
        return ": check [erp.webhook] secret and the ERP's signature check"
    if status in (404, 405):
        return ": check [erp.webhook] url"
    return ""
