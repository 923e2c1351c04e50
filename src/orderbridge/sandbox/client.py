"""`SandboxClient`: the tools' client for a running sandbox (`demo`, `chaos`, the audit), over aiohttp
like every outgoing call (`orderbridge.http_session`).

The environment's proxy applies as to every other call (`HTTP_PROXY` less `NO_PROXY`; a machine
behind a proxy usually names 127.0.0.1 and localhost in `NO_PROXY`, as the pipeline's own calls to a
local sandbox need too).

A failure below HTTP (refused, reset, timeout) raises `SendFailed` (its `kind` names it, as for VTEX
calls); an answer is returned whatever its status, and `raise_for_status` turns a 4xx/5xx into
`SandboxStatusError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any, NamedTuple, Self

import aiohttp
import orjson
from yarl import URL

from orderbridge.http_session import (
    HttpOptions,
    SendFailed,
    client_session,
    client_timeout,
    env_proxy,
    failure_of,
)

__all__ = ["KEEPALIVE_EXPIRY_S", "SandboxClient", "SandboxReply", "SandboxStatusError", "SendFailed"]

# uvicorn closes a connection idle for 5 s; a client reusing it at that instant reads nothing back
# (a reset). A watcher that polls every few seconds drops its idle connections sooner instead.
KEEPALIVE_EXPIRY_S = 2.0
_CONNECT_TIMEOUT_S = 5.0


class SandboxStatusError(Exception):
    """The sandbox answered a 4xx or 5xx where the caller needed a success."""

    def __init__(self, method: str, path: str, status: int, content: bytes) -> None:
        text = content[:300].decode("utf-8", errors="replace")
        super().__init__(f"{method} {path}: HTTP {status} {text}".rstrip())
        self.status = status


class SandboxReply(NamedTuple):
    """An answer, read in full."""

    method: str
    path: str
    status_code: int
    headers: Mapping[str, str]
    content: bytes

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    def json(self) -> Any:
        return orjson.loads(self.content)

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise SandboxStatusError(self.method, self.path, self.status_code, self.content)


class SandboxClient:
    """Calls to one sandbox (`base_url`), each bounded by `timeout_s` once connected. Use as an async
    context manager, inside the event loop that makes the calls."""

    def __init__(self, base_url: str, timeout_s: float, keepalive_s: float = KEEPALIVE_EXPIRY_S) -> None:
        self.base_url = base_url.rstrip("/")
        self._options = HttpOptions(connect_timeout_s=_CONNECT_TIMEOUT_S, keepalive_s=keepalive_s)
        self._timeout = client_timeout(_CONNECT_TIMEOUT_S, timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._proxy: URL | None = None
        self._proxy_auth: aiohttp.BasicAuth | None = None

    async def get(
        self,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> SandboxReply:
        return await self.request("GET", path, params=params, headers=headers)

    async def post(
        self,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> SandboxReply:
        return await self.request("POST", path, params=params, json=json, headers=headers)

    async def put(
        self, path: str, *, json: Any = None, headers: Mapping[str, str] | None = None
    ) -> SandboxReply:
        return await self.request("PUT", path, json=json, headers=headers)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> SandboxReply:
        if self._session is None:
            self._proxy, self._proxy_auth = env_proxy(self.base_url)
            self._session = client_session(self._options)
        body = orjson.dumps(json) if json is not None else None
        sent_headers = dict(headers or {})
        if body is not None:
            sent_headers.setdefault("Content-Type", "application/json")
        try:
            async with self._session.request(
                method,
                self.base_url + path,
                params=params,
                data=body,
                headers=sent_headers,
                timeout=self._timeout,
                allow_redirects=False,
                proxy=self._proxy,
                proxy_auth=self._proxy_auth,
            ) as response:
                content = await response.read()
                return SandboxReply(method, path, response.status, response.headers, content)
        except Exception as exc:
            failure = failure_of(exc)
            if failure is None:
                raise
            raise failure from None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
