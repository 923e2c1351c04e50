"""RFC 9457 problem details for the ERP-facing API: every refusal says what is wrong in one sentence.

The REST router uses `ProblemRoute` as its route class, so validation errors and refusals raised by its
handlers become `application/problem+json` without touching the application's global exception handlers
(the app belongs to the pipeline; the router must behave the same wherever it is mounted).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable, Sequence
from typing import Any, Literal

import orjson
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException  # FastAPI raises Starlette's own for unreadable bodies

from orderbridge.erp.parsing import Problem, json_pointer, pointer_of, problem

PROBLEM_JSON = "application/problem+json"
_TYPE_BASE = "urn:orderbridge:problem:"  # a name, not a page: no domain is claimed


class FieldError(BaseModel):
    """One problem (RFC 9457 §3 `errors`). `pointer` (a JSON Pointer, RFC 6901, into the request body) or
    `parameter` (a path or query parameter) or `header` says where, as the ERP sent it; none of them when
    the problem is the command as a whole or the order as it stands (e.g. its VTEX status)."""

    pointer: str | None = Field(default=None, examples=["/items/0/id"])
    parameter: str | None = Field(default=None, examples=["invoiceNumber"])
    header: str | None = None
    rule: str = Field(
        description="A stable code for programs, e.g. `exceeds_remaining`.", examples=["unknown_sku"]
    )
    detail: str = Field(examples=["items[0].id: SKU 'X-1' is not on the order"])


class ProblemDetail(BaseModel):
    """The body of every refusal (RFC 9457). `errors` lists each field and rule when there are several."""

    type: str = Field(description="A URI naming the kind of problem.")
    title: str
    status: int
    detail: str = Field(description="Human-readable: names the field and the rule.")
    instance: str | None = None
    errors: list[FieldError] | None = Field(
        default=None,
        description="Each problem on its own, pointing at the field of the request it is about.",
    )


class ProblemError(Exception):
    """Raised by handlers to answer with a problem; `headers` e.g. WWW-Authenticate for 401."""

    def __init__(
        self,
        status: int,
        kind: str,
        title: str,
        detail: str,
        *,
        problems: Sequence[Problem] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.title = title
        self.detail = detail
        self.problems = tuple(problems)
        self.headers = headers or {}


def problem_response(error: ProblemError, instance: str | None = None) -> Response:
    body: dict[str, Any] = {
        "type": _TYPE_BASE + error.kind,
        "title": error.title,
        "status": error.status,
        "detail": error.detail,
    }
    if instance:
        body["instance"] = instance
    if error.problems:
        body["errors"] = [_error_entry(p) for p in error.problems]
    return Response(
        orjson.dumps(body), status_code=error.status, media_type=PROBLEM_JSON, headers=error.headers
    )


def _error_entry(found: Problem) -> dict[str, str]:
    """RFC 9457-style `errors[]` member: where (as the ERP sent it), the rule, and the sentence."""
    entry: dict[str, str] = {}
    if found.location != "body":
        entry[found.location] = found.field
    else:
        pointer = found.pointer if found.pointer is not None else json_pointer(found.field)
        if pointer is not None:
            entry["pointer"] = pointer
    entry["rule"] = found.rule
    entry["detail"] = found.message.removesuffix(f" [{found.rule}]")
    return entry


_COMMAND_PROBLEMS = {
    400: ("malformed-request", "Malformed request"),
    409: ("command-conflict", "Command conflicts with the order"),
    422: ("invalid-command", "Invalid command"),
}


def invalid_command(problems: Iterable[Problem], *, status: int = 422) -> ProblemError:
    """422: the command breaks a rule; 409: it clashes with the order as it stands; 400: unreadable."""
    listed = tuple(problems)
    kind, title = _COMMAND_PROBLEMS[status]
    return ProblemError(status, kind, title, "; ".join(p.message for p in listed), problems=listed)


_PARAMETERS: dict[str, Literal["parameter", "header"]] = {
    "query": "parameter",
    "path": "parameter",
    "header": "header",
}


def _field(loc: Sequence[int | str]) -> str:
    parts = list(loc[1:]) if loc and loc[0] in ("body", "query", "path", "header") else list(loc)
    name = ""
    for part in parts:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or str(loc[0] if loc else "body")


def from_validation_error(exc: RequestValidationError) -> ProblemError:
    """FastAPI's 422 list → our problems. Malformed JSON, and a path or query parameter the API cannot
    take (an unknown `pipelineState`, a NUL in an id), are a 400: the request itself is wrong, no command
    was judged. A body that breaks the command's shape stays a 422."""
    problems: list[Problem] = []
    malformed = False
    for err in exc.errors():
        rule = str(err.get("type", "invalid"))
        loc = tuple(err.get("loc", ()))
        if rule == "json_invalid":
            malformed = True
            problems.append(problem("body", rule, "malformed JSON"))
            continue
        text = "is required" if rule == "missing" else str(err.get("msg", "is invalid"))
        if rule == "extra_forbidden":
            text = "unknown field (not part of this command)"
        found = problem(_field(loc), rule, text)
        where = _PARAMETERS.get(str(loc[0])) if loc else None
        if where is not None:
            malformed = True
            problems.append(Problem(found.field, rule, found.message, location=where))
        else:
            problems.append(Problem(found.field, rule, found.message, pointer=pointer_of(loc[1:])))
    return invalid_command(problems, status=400 if malformed else 422)


_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
}


class ProblemRoute(APIRoute):
    """Turns validation errors, `ProblemError` and `HTTPException` into problem+json for this router only."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def with_problems(request: Request) -> Response:
            try:
                return await handler(request)
            except ProblemError as exc:
                return problem_response(exc, request.url.path)
            except RequestValidationError as exc:
                return problem_response(from_validation_error(exc), request.url.path)
            except HTTPException as exc:
                if exc.status_code == 400:  # the body could not even be decoded
                    unreadable = problem("body", "body_invalid", "could not be read as UTF-8 JSON")
                    return problem_response(invalid_command([unreadable], status=400), request.url.path)
                title = _TITLES.get(exc.status_code, "Error")
                error = ProblemError(exc.status_code, title.lower().replace(" ", "-"), title, str(exc.detail))
                return problem_response(error, request.url.path)

        return with_problems


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries documenting problem+json refusals with these status codes."""
    return {
        status: {
            "model": ProblemDetail,
            "description": _TITLES.get(status, "Invalid command" if status == 422 else "Problem"),
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ProblemDetail"}}},
        }
        for status in statuses
    }
