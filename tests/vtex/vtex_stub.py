"""A tiny scripted VTEX for fault cases: each request pops the next scripted reply for its route.

Used in-process through ``httpx2.ASGITransport``; every request is recorded so tests can assert
exactly what reached "VTEX" (and how many times).
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from orderbridge.vtex import VtexClient

APP_KEY = "vtexappkey-stubstore-SECRETKEY42"
APP_TOKEN = "TOKEN-very-secret-0123456789abcdef"

ClientFactory = Callable[..., VtexClient]
"""``make_client(transport=None, **VtexClient options)`` from the ``make_client`` fixture."""

ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


@dataclass
class Reply:
    status: int = 200
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    text: str | None = None
    delay_s: float = 0.0

    def body(self) -> bytes:
        if self.text is not None:
            return self.text.encode()
        return b"" if self.json is None else json.dumps(self.json).encode()


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


class StubVtex:
    def __init__(self) -> None:
        self.script: dict[tuple[str, str], deque[Reply]] = defaultdict(deque)
        self.seen: list[Seen] = []
        self.app = Starlette(routes=[Route("/{path:path}", self._handle, methods=ALL_METHODS)])

    def reply(self, method: str, path: str, *replies: Reply) -> None:
        """Queue replies for ``method path``; when the queue runs dry the last reply repeats."""
        self.script[(method, path)].extend(replies)

    def calls(self, method: str, path: str) -> list[Seen]:
        return [s for s in self.seen if s.method == method and s.path == path]

    async def _handle(self, request: Request) -> Response:
        raw = await request.body()
        # The path as sent on the wire (percent-escapes kept), so tests see exactly what VTEX would.
        path = request.scope.get("raw_path", request.url.path.encode()).decode().split("?")[0]
        self.seen.append(
            Seen(
                method=request.method,
                path=path,
                query=dict(request.query_params),
                headers=dict(request.headers),
                body=json.loads(raw) if raw else None,
            )
        )
        queue = self.script.get((request.method, path))
        reply = Reply() if not queue else (queue.popleft() if len(queue) > 1 else queue[0])
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        return Response(
            reply.body(), status_code=reply.status, headers=reply.headers, media_type="application/json"
        )


class Sleeps:
    """A fake ``asyncio.sleep`` that records the waits instead of waiting."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


class FailingFirst(httpx2.AsyncBaseTransport):
    """Raise ``errors`` on the first requests, then hand requests to ``inner``."""

    def __init__(self, inner: httpx2.AsyncBaseTransport, *errors: Exception) -> None:
        self.inner = inner
        self.errors = list(errors)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if self.errors:
            raise self.errors.pop(0)
        return await self.inner.handle_async_request(request)
