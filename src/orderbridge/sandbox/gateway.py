"""What every VTEX endpoint does around its handler: run due timers, inject faults, authenticate,
count the call, and turn refusals into VTEX's error bodies."""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from orderbridge.sandbox.faults import judge
from orderbridge.sandbox.responses import OmsError, ProblemError, empty, oms_error
from orderbridge.sandbox.state import OmsState

_log = logging.getLogger(__name__)

Handler = Callable[[Request, OmsState, str], Awaitable[Response]]

_FAULT_BODIES = {
    429: ("429", "Too Many Requests"),
    500: ("1", "An error has occurred"),
    502: ("1", "Bad Gateway"),
    503: ("1", "Service Unavailable"),
    504: ("1", "Gateway Timeout"),
}


def authenticate(oms: OmsState, request: Request) -> str | None:
    """The calling appKey when its appKey/appToken pair is one of this account's; None otherwise
    (another account's pair is as unknown here as at VTEX, where appKeys are per account)."""
    key = request.headers.get("x-vtex-api-appkey")
    token = request.headers.get("x-vtex-api-apptoken")
    if not key or token is None:
        return None
    expected = oms.credentials.get(key)
    if expected is None or not hmac.compare_digest(expected.encode(), token.encode()):
        return None
    return key


async def _fault_response(oms: OmsState, name: str) -> Response | None:
    if oms.faults.is_quiet():
        return None
    verdict = judge(oms.faults, oms.window, name, oms.account_name, oms.clock.now(), oms.rng)
    if verdict.delay_s > 0:
        await asyncio.sleep(verdict.delay_s)
    if verdict.status is None:
        return None
    if verdict.hang_s > 0:
        await asyncio.sleep(verdict.hang_s)
    code, message = _FAULT_BODIES.get(verdict.status, ("1", "An error has occurred"))
    headers = {"Retry-After": str(verdict.retry_after)} if verdict.retry_after is not None else None
    return oms_error(verdict.status, code, message, headers)


def vtex_endpoint(name: str, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a handler `(request, oms, app_key) -> Response` as a Starlette endpoint named `name`."""

    async def endpoint(request: Request) -> Response:
        oms: OmsState = request.app.state.accounts.of_scope(request.scope)
        oms.tick()
        response = await _fault_response(oms, name)
        if response is None:
            app_key = authenticate(oms, request)
            if app_key is None:
                response = oms_error(401, "1", "Unauthorized access")
            else:
                try:
                    response = await handler(request, oms, app_key)
                except (OmsError, ProblemError) as exc:
                    response = exc.response()
                except Exception:  # a sandbox bug: answer like VTEX's 500, keep it counted, log it
                    _log.exception("sandbox endpoint %s failed", name)
                    response = oms_error(500, "1", "An error has occurred")
        oms.stats.call(name, response.status_code)
        return response

    endpoint.__name__ = name
    return endpoint


async def read_json(request: Request, required: bool = True) -> Any:
    """The request body as JSON; a missing body is None unless required; bad JSON is a 400."""
    raw = await request.body()
    if not raw.strip():
        if required:
            raise OmsError(400, "1", "A JSON body is required")
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise OmsError(400, "1", "The request body is not valid JSON") from exc


__all__ = ["Handler", "authenticate", "empty", "read_json", "vtex_endpoint"]
