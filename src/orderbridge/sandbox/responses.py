"""Response helpers: orjson bodies and VTEX's two error shapes (classic OMS and RFC 7807)."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from starlette.responses import Response

JSON = "application/json; charset=utf-8"


class OmsError(Exception):
    """A refusal in the classic OMS shape: `{"error": {"code", "message", "exception": null}}`."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def response(self) -> Response:
        return oms_error(self.status, self.code, self.message, self.headers)


class ProblemError(Exception):
    """A refusal in the RFC 7807 shape the newer VTEX services (feed/hook config, document) use."""

    def __init__(self, status: int, title: str, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.errors = errors

    def response(self) -> Response:
        return problem(self.status, self.title, self.errors)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=JSON, headers=headers)


def raw_json(body: bytes, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type=JSON)


def empty(status: int = 200) -> Response:
    return Response(b"", status_code=status)


def oms_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    body = {"error": {"code": code, "message": message, "exception": None}}
    return json_response(body, status, headers)


_PROBLEM_TYPES = {
    400: "https://tools.ietf.org/html/rfc7231#section-6.5.1",
    401: "https://tools.ietf.org/html/rfc9110#section-15.5.2",
    404: "https://tools.ietf.org/html/rfc9110#section-15.5.5",
    409: "https://tools.ietf.org/html/rfc9110#section-15.5.10",
    415: "https://tools.ietf.org/html/rfc9110#section-15.5.16",
}


def problem(status: int, title: str, errors: dict[str, list[str]] | None = None) -> Response:
    body: dict[str, Any] = {
        "type": _PROBLEM_TYPES.get(status, "about:blank"),
        "title": title,
        "status": status,
        "traceId": f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-00",
    }
    if errors is not None:
        body["errors"] = errors
    return Response(orjson.dumps(body), status_code=status, media_type="application/problem+json")


def new_receipt() -> str:
    """32 hex characters, as in VTEX's invoice/cancel/tracking receipts."""
    return uuid.uuid4().hex
