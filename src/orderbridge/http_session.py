"""How every outgoing HTTP call connects: one aiohttp stack for VTEX, the ERP webhook and the tools'
sandbox clients.

* Proxies: ``HTTP_PROXY``/``HTTPS_PROXY``/``NO_PROXY`` by aiohttp's own ``trust_env`` rules (plain
  forwarding for http://, a CONNECT tunnel for https://), looked up once per origin (``env_proxy``).
* Certificates: the system store (which OpenSSL lets ``SSL_CERT_FILE``/``SSL_CERT_DIR`` replace) plus an
  optional extra CA bundle (the ``ca_bundle`` setting), for TLS-inspecting proxies.
* Timeouts: connecting (pool wait, TCP, proxy tunnel, TLS) apart from waiting for the answer.
* A DNS cache and a keep-alive bound on idle connections.

What a caller does with an answer (VTEX's retries, the ERP's decisions) is the caller's: this module
only says how a failure below HTTP happened (``failure_of``), and whether the request may have left.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp.helpers import get_env_proxy_for_url
from yarl import URL


@dataclass(frozen=True)
class HttpOptions:
    """How an outgoing session connects. The defaults suit VTEX's API."""

    connect_timeout_s: float = 5.0
    """Waiting for a pooled connection, TCP connect, proxy tunnel and TLS handshake, together. A
    failure within it never sent the request, so a caller may retry even a POST."""
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


def client_timeout(connect_s: float, read_s: float) -> aiohttp.ClientTimeout:
    """Connect and read bounds apart, and the two together as a bound on the whole exchange (a server
    trickling bytes never trips the read timeout)."""
    return aiohttp.ClientTimeout(total=connect_s + read_s, connect=connect_s, sock_read=read_s)


class SendFailed(Exception):
    """A request failed below HTTP. ``kind`` names the failure (httpx's names, so logs read the same
    whichever stack ran); ``sent`` is False only when the request's bytes certainly never left (so
    even a POST may be sent again)."""

    def __init__(self, kind: str, sent: bool, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.sent = sent

    @property
    def timed_out(self) -> bool:
        return self.kind.endswith("Timeout")


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
