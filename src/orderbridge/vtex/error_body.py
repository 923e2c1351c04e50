"""Read VTEX's error code and message out of an error response, whatever its shape.

Classic OMS answers ``{"error": {"code", "message", "exception"}}``; newer services answer RFC 7807
problem details (``title``, ``detail``, ``errors``); some gateways answer plain text.
"""

from __future__ import annotations

from typing import Any

import orjson

MAX_MESSAGE_CHARS = 500


def error_details(body: bytes) -> tuple[str | None, str]:
    """Return ``(code, message)`` from an error body; code None when VTEX gave none."""
    if not body.strip():
        return None, ""
    try:
        data: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, clip(body.decode("utf-8", errors="replace"))
    if isinstance(data, dict):
        return _from_mapping(data)
    if isinstance(data, str):
        return None, clip(data)
    return None, clip(body.decode("utf-8", errors="replace"))


def _from_mapping(data: dict[str, Any]) -> tuple[str | None, str]:
    error = data.get("error") or data.get("Error")
    if isinstance(error, dict):
        code = error.get("code") or error.get("Code")
        message = error.get("message") or error.get("Message") or ""
        return (str(code) if code is not None else None), clip(str(message))
    if isinstance(error, str):
        return None, clip(error)
    if "title" in data or "errors" in data:
        return _problem_details(data)
    message = data.get("message") or data.get("Message")
    code = data.get("code") or data.get("Code")
    if message is not None:
        return (str(code) if code is not None else None), clip(str(message))
    return None, clip(orjson.dumps(data).decode())


def _problem_details(data: dict[str, Any]) -> tuple[str | None, str]:
    parts = [str(data[key]) for key in ("title", "detail") if data.get(key)]
    errors = data.get("errors")
    if isinstance(errors, dict):
        for field, problems in errors.items():
            listed = problems if isinstance(problems, list) else [problems]
            parts.append(f"{field}: {'; '.join(str(p) for p in listed)}")
    return None, clip(" — ".join(parts))


def clip(text: str) -> str:
    text = text.strip()
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 1] + "…"
