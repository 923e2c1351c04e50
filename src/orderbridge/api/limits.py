"""Pure ASGI middleware that keeps refused bodies out of memory (issue 14, item 7).

FastAPI reads and parses a route's whole JSON body before it runs the route's dependencies, so a
dependency cannot refuse a caller before its body is in memory. These two run first:

- `TokenFirst` answers 401 to an `/api/v1` request without a valid bearer token before the application
  (and its body reading) is reached at all;
- `BodyLimit` answers 413 to a body declared larger than the limit (`Content-Length`) without reading it,
  and counts the bytes of a body streamed without one (chunked), stopping at the limit.

Both answer `application/problem+json` and ask the server to close the connection, so the rest of a
refused body is not even drained.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orderbridge.api.auth import BearerAuth
from orderbridge.api.problems import ProblemError, problem_response

API_MAX_BODY_BYTES = 1024 * 1024
HOOK_MAX_BODY_BYTES = 256 * 1024
HOOK_PREFIX = "/hooks/"
API_PREFIX = "/api/v1"
_CLOSE = {"Connection": "close"}


class BodyTooLarge(HTTPException):
    """Raised by the counting `receive` once a streamed body passes the limit.

    An `HTTPException`, so FastAPI's body reading lets it through as it is (it turns any other error
    into a 400), and the application's handler for this class answers the 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"body: larger than the limit of {limit} bytes [body_too_large]")
        self.limit = limit


def too_large(limit: int, path: str) -> Response:
    error = ProblemError(
        413,
        "content-too-large",
        "Content too large",
        f"body: larger than the limit of {limit} bytes [body_too_large]",
        headers=_CLOSE,
    )
    return problem_response(error, path)


async def answer_too_large(request: Request, exc: Exception) -> Response:
    """The application's exception handler for `BodyTooLarge` (raised inside a route)."""
    limit = exc.limit if isinstance(exc, BodyTooLarge) else API_MAX_BODY_BYTES
    return too_large(limit, request.url.path)


class BodyLimit:
    def __init__(self, app: ASGIApp, *, api_bytes: int, hook_bytes: int) -> None:
        self.app = app
        self.api_bytes = api_bytes
        self.hook_bytes = hook_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        limit = self.hook_bytes if path.startswith(HOOK_PREFIX) else self.api_bytes
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await too_large(limit, path)(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            if started:  # the application answered already; nothing more can be said
                raise
            await too_large(limit, path)(scope, receive, send)


class TokenFirst:
    """401 for `/api/v1` without a valid bearer token, before the body is read (the routes check again)."""

    def __init__(self, app: ASGIApp, auth: BearerAuth) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and (path == API_PREFIX or path.startswith(API_PREFIX + "/")):
            authorization = _header(scope, b"authorization")
            try:
                self.auth.client_of(authorization)
            except ProblemError as refused:
                refused.headers = {**refused.headers, **_CLOSE}
                await problem_response(refused, path)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def _content_length(scope: Scope) -> int | None:
    """The declared length; a malformed one is left to the server (h11/httptools refuse it)."""
    value = _header(scope, b"content-length")
    if value is None or not value.strip().isdigit():
        return None
    return int(value)
