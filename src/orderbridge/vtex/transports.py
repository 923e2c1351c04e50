"""What moves bytes under `VtexHttpClient`: a ``Transport`` sends one request and returns a ``Reply``, or
raises ``SendFailed`` saying whether the request may have reached the server. It knows nothing of VTEX's
rules (retries, Retry-After, errors): those are the client's, above it.

Two transports exist:

* ``AiohttpTransport`` — production: aiohttp's pool and C parser over real sockets, connected as
  every outgoing call is (``orderbridge.http_session``: proxies from ``HTTP_PROXY``/``HTTPS_PROXY``/
  ``NO_PROXY``, the system trust store plus an optional CA bundle, connect and read timeouts apart).
* ``HttpxTransport`` (``vtex.httpx_transport``) — any ``httpx2.AsyncBaseTransport``: the in-process
  ASGI apps of the tests. httpx2 is a test dependency; that module is imported only when a test plugs
  such a transport in.

Both name failures the same way (httpx's names, so logs read the same whichever ran).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import NamedTuple, Protocol
from urllib.parse import urlencode

import aiohttp
from yarl import URL

from orderbridge.http_session import (
    HttpOptions,
    SendFailed,
    client_session,
    client_timeout,
    env_proxy,
    failure_of,
)

__all__ = [
    "AiohttpTransport",
    "HttpOptions",
    "QueryParams",
    "Reply",
    "SendFailed",
    "Transport",
    "request_target",
]

# A request target is printable ASCII without spaces: build_path and urlencode guarantee it for ids, and
# the URL is handed to aiohttp as already encoded, so nothing else would catch a slip.
_UNSAFE_IN_TARGET = re.compile(r"[^\x21-\x7e]")

QueryParams = Mapping[str, str | int | float | bool]


class Reply(NamedTuple):
    """What the client reads of a response. ``headers`` answers any spelling of a name."""

    status: int
    headers: Mapping[str, str]
    content: bytes


class Transport(Protocol):
    async def send(self, method: str, target: str, body: bytes | None, timeout_s: float) -> Reply:
        """Send ``method target`` (path and query, already encoded) with ``body``; wait at most
        ``timeout_s`` for the answer once the request is on its way."""
        ...

    async def aclose(self) -> None: ...


def request_target(path: str, params: QueryParams | None) -> str:
    """``path?query`` with the query encoded as httpx encodes it (booleans as ``true``/``false``), so
    every transport puts the same bytes on the wire."""
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


class AiohttpTransport:
    """aiohttp for one origin with fixed headers. The session is opened on first use, inside the loop
    that uses it.

    Redirects are not followed: the auth headers are custom headers, which aiohttp would carry to
    whatever host a redirect names; a 3xx is the client's to report."""

    def __init__(self, base_url: str, headers: Mapping[str, str], options: HttpOptions | None = None) -> None:
        self._base_url = base_url.rstrip("/")
        self._headers = dict(headers)
        self._options = options or HttpOptions()
        self._session: aiohttp.ClientSession | None = None
        self._proxy: URL | None = None
        self._proxy_auth: aiohttp.BasicAuth | None = None
        self._closed = False
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}

    async def send(self, method: str, target: str, body: bytes | None, timeout_s: float) -> Reply:
        if _UNSAFE_IN_TARGET.search(target):
            raise ValueError(f"a request target must be printable ASCII without spaces: {target!r}")
        session = self._session or self._open()
        # Built from the already percent-encoded target: yarl must not quote it again.
        url = URL(self._base_url + target, encoded=True)
        try:
            async with session.request(
                method,
                url,
                data=body,
                timeout=self._timeout(timeout_s),
                allow_redirects=False,
                proxy=self._proxy,
                proxy_auth=self._proxy_auth,
            ) as response:
                return Reply(response.status, response.headers, await response.read())
        except Exception as exc:
            failure = failure_of(exc)
            if failure is None:
                raise
            raise failure from None

    def _open(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("this transport is closed")
        self._proxy, self._proxy_auth = env_proxy(self._base_url)
        self._session = client_session(self._options, self._headers)
        return self._session

    def _timeout(self, read_s: float) -> aiohttp.ClientTimeout:
        """Connect and read bounds apart, and the two together as a bound on the whole exchange (a
        server trickling bytes never trips the read timeout)."""
        timeout = self._timeouts.get(read_s)
        if timeout is None:
            connect_s = self._options.connect_timeout_s
            timeout = client_timeout(connect_s, read_s)
            self._timeouts[read_s] = timeout
        return timeout

    async def aclose(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None
