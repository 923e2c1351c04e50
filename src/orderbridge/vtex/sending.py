"""The seam between `VtexTransport` and whatever moves bytes: a ``Sender`` sends one request, returns a
``Reply`` or raises ``SendFailed`` saying whether the request may have reached the server.

Two senders exist: the lean HTTP/1.1 pool in ``http11`` (the default for real sockets) and
``HttpxSender``, which adapts any ``httpx2.AsyncBaseTransport`` — the in-process ASGI transport tests
use, or the HTTP/2 pool in ``pool``. Everything above this seam (retries, errors, logging) is shared,
so both behave the same for the transport.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import NamedTuple, Protocol
from urllib.parse import urlencode

import httpx2

QueryParams = Mapping[str, str | int | float | bool]


class Reply(NamedTuple):
    """What the transport reads of a response. ``headers`` answers lower-case names."""

    status: int
    headers: Mapping[str, str]
    content: bytes


class SendFailed(Exception):
    """A request failed below HTTP. ``kind`` names the failure (httpx's names, so logs read the same
    whichever sender ran); ``sent`` is False only when the request's bytes certainly never left."""

    def __init__(self, kind: str, sent: bool, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.sent = sent


class Sender(Protocol):
    async def send(self, method: str, target: str, body: bytes | None, timeout_s: float) -> Reply:
        """Send ``method target`` (path and query, already encoded) with ``body``; the whole exchange
        takes at most ``timeout_s``."""
        ...

    async def aclose(self) -> None: ...


def request_target(path: str, params: QueryParams | None) -> str:
    """``path?query`` with the query encoded as httpx encodes it (booleans as ``true``/``false``), so
    both senders put the same bytes on the wire."""
    if not params:
        return path
    pairs = [(name, _query_value(value)) for name, value in params.items()]
    return f"{path}?{urlencode(pairs)}"


def _query_value(value: str | int | float | bool) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


# httpx's exceptions raised before the request could have left the machine.
_NOT_SENT = (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout)


class HttpxSender:
    """Any ``httpx2.AsyncBaseTransport`` as a ``Sender`` (in-process ASGI apps, the HTTP/2 pool)."""

    def __init__(
        self, transport: httpx2.AsyncBaseTransport, base_url: str, headers: Mapping[str, str]
    ) -> None:
        self._http = transport
        self._base_url = base_url.rstrip("/")
        self._headers = httpx2.Headers(dict(headers))

    async def send(self, method: str, target: str, body: bytes | None, timeout_s: float) -> Reply:
        request = httpx2.Request(
            method,
            self._base_url + target,
            headers=self._headers,
            content=body,
            extensions={"timeout": httpx2.Timeout(timeout_s).as_dict()},
        )
        # asyncio.timeout bounds transports that ignore httpx timeouts (e.g. in-process ASGI).
        try:
            async with asyncio.timeout(timeout_s):
                return await self._exchange(request)
        except _NOT_SENT as exc:
            raise SendFailed(type(exc).__name__, sent=False) from None
        except httpx2.TransportError as exc:  # timeouts included: they may strike after sending
            raise SendFailed(type(exc).__name__, sent=True) from None
        except TimeoutError:
            raise SendFailed("Timeout", sent=True) from None

    async def _exchange(self, request: httpx2.Request) -> Reply:
        response = await self._http.handle_async_request(request)
        response.request = request
        try:
            await response.aread()
        finally:
            await response.aclose()
        return Reply(response.status_code, response.headers, response.content)

    async def aclose(self) -> None:
        await self._http.aclose()
