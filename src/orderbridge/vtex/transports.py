"""What moves bytes under `VtexHttpClient`: a ``Transport`` sends one request and returns a ``Reply``, or
raises ``SendFailed`` saying whether the request may have reached the server. It knows nothing of VTEX's
rules (retries, Retry-After, errors): those are the client's, above it.

Two transports exist:

* ``AiohttpTransport`` — production: aiohttp's pool and C parser over real sockets. It honours
  ``HTTP_PROXY``/``HTTPS_PROXY``/``NO_PROXY`` as aiohttp's ``trust_env`` does (plain forwarding for
  http://, a CONNECT tunnel for https://); certificates are checked against the system store (which
  OpenSSL lets ``SSL_CERT_FILE``/``SSL_CERT_DIR`` replace) plus an optional extra CA bundle, for TLS
  inspection.
* ``HttpxTransport`` — any ``httpx2.AsyncBaseTransport``: the in-process ASGI apps of the tests.

Both name failures the same way (httpx's names, so logs read the same whichever ran).
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Protocol
from urllib.parse import urlencode

import aiohttp
import httpx2
from aiohttp.helpers import get_env_proxy_for_url
from yarl import URL

# A request target is printable ASCII without spaces: build_path and urlencode guarantee it for ids, and
# the URL is handed to aiohttp as already encoded, so nothing else would catch a slip.
_UNSAFE_IN_TARGET = re.compile(r"[^\x21-\x7e]")

QueryParams = Mapping[str, str | int | float | bool]


class Reply(NamedTuple):
    """What the client reads of a response. ``headers`` answers any spelling of a name."""

    status: int
    headers: Mapping[str, str]
    content: bytes


class SendFailed(Exception):
    """A request failed below HTTP. ``kind`` names the failure; ``sent`` is False only when the
    request's bytes certainly never left (so even a POST may be sent again)."""

    def __init__(self, kind: str, sent: bool, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.sent = sent


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


@dataclass(frozen=True)
class HttpOptions:
    """How the production transport connects. The defaults suit VTEX's API."""

    connect_timeout_s: float = 5.0
    """Waiting for a pooled connection, TCP connect, proxy tunnel and TLS handshake, together. A
    failure within it never sent the request, so the client may retry even a POST."""
    max_connections: int = 100
    keepalive_s: float = 5.0
    """An idle connection is closed after this long. Short, like httpx's default: a busy pipeline keeps
    its connections warm anyway, and one the server closed while idle can take a POST down with it
    (which then "may have landed" and costs a read of the order)."""
    dns_ttl_s: int = 60
    """Resolved addresses are cached this long (aiohttp's default is 10 s; VTEX's names are stable)."""
    ca_bundle: Path | None = None
    """Extra CA certificates (PEM) to trust besides the system store: a TLS-inspecting proxy's root."""


def ssl_context(ca_bundle: Path | None = None) -> ssl.SSLContext:
    """The system's trust store (``SSL_CERT_FILE``/``SSL_CERT_DIR`` honoured by OpenSSL), plus
    ``ca_bundle`` when given."""
    context = ssl.create_default_context()
    if ca_bundle is not None:
        context.load_verify_locations(cafile=str(ca_bundle))
    return context


def env_proxy(url: str) -> tuple[URL | None, aiohttp.BasicAuth | None]:
    """The proxy the environment names for ``url`` (``HTTP(S)_PROXY`` less ``NO_PROXY``), by aiohttp's
    own rules for ``trust_env``; (None, None) for a direct connection."""
    try:
        return get_env_proxy_for_url(URL(url))
    except LookupError:
        return None, None


def client_session(options: HttpOptions, headers: Mapping[str, str] | None = None) -> aiohttp.ClientSession:
    """An aiohttp session for outgoing calls (call inside the event loop that will use it).

    The environment's proxy is looked up once per origin by the caller (``env_proxy``) and passed with
    each request, rather than by ``trust_env=True``: that looks it up on every request, with a thread
    hop for the proxy and another to read ``~/.netrc`` — measured at about 450 µs of CPU per call,
    more than the rest of the call. (netrc would also add Basic auth to calls that carry their own.)"""
    connector = aiohttp.TCPConnector(
        limit=options.max_connections,
        keepalive_timeout=options.keepalive_s,
        ttl_dns_cache=options.dns_ttl_s,
        ssl=ssl_context(options.ca_bundle),
    )
    return aiohttp.ClientSession(
        connector=connector,
        headers=dict(headers or {}),
        # Responses are read as they came: no cookies carried from one call to the next.
        cookie_jar=aiohttp.DummyCookieJar(),
        # aiohttp would add its own User-Agent when a caller sets none.
        skip_auto_headers=() if headers and "User-Agent" in headers else ("User-Agent",),
    )


def failure_of(exc: BaseException) -> SendFailed | None:
    """aiohttp's exception as a ``SendFailed``, or None when it is not a transport failure.

    Only failures while connecting are "not sent": no connection could be had (pool, DNS, TCP, proxy,
    TLS) so no byte of the request left. Anything later — even a reset while writing — may have been
    read by the server."""
    # Order matters: the connect-time errors subclass the generic ones.
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return SendFailed("ConnectTimeout", sent=False, detail=str(exc))
    if isinstance(exc, aiohttp.ClientHttpProxyError):  # the proxy refused the tunnel
        return SendFailed("ProxyError", sent=False, detail=f"proxy answered {exc.status}")
    if isinstance(exc, aiohttp.ClientConnectorError):  # refused, DNS, TLS/certificate, proxy unreachable
        return SendFailed("ConnectError", sent=False, detail=str(exc))
    if isinstance(exc, aiohttp.SocketTimeoutError):
        return SendFailed("ReadTimeout", sent=True, detail=str(exc))
    if isinstance(exc, TimeoutError):  # the call's overall bound
        return SendFailed("Timeout", sent=True)
    if isinstance(exc, aiohttp.ClientResponseError):  # an answer that is not HTTP
        return SendFailed("RemoteProtocolError", sent=True, detail=exc.message)
    if isinstance(exc, aiohttp.ClientError | OSError):  # reset, EOF before a full answer, bad payload
        return SendFailed("ReadError", sent=True, detail=str(exc))
    return None


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
            timeout = aiohttp.ClientTimeout(total=connect_s + read_s, connect=connect_s, sock_read=read_s)
            self._timeouts[read_s] = timeout
        return timeout

    async def aclose(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None


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
