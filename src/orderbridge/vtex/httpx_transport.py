"""Any ``httpx2.AsyncBaseTransport`` as a VTEX ``Transport``: the in-process ASGI apps of the tests.

httpx2 is a test dependency (Starlette's test client and ``ASGITransport``), not a runtime one: this
module is imported only when a caller plugs such a transport into ``VtexHttpClient``."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import httpx2

from .transports import Reply, SendFailed

# httpx's exceptions raised before the request could have left the machine.
_NOT_SENT = (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout)


class HttpxTransport:
    """Any ``httpx2.AsyncBaseTransport`` as a ``Transport`` (the in-process ASGI apps of the tests)."""

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
