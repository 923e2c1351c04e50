"""The ERP-facing REST API (`/api/v1/...`, `GET /health`): read orders and commands, send commands back.

Every write goes through the pipeline's `CommandSink`, which validates the command against the stored
order exactly as for any other channel, stores it and schedules its relay: the API answers 202 with the
command id, or a 422 problem+json naming each field and rule — and nothing reaches VTEX. Reads go through
`OrderReads` (implemented over `orderbridge.store` by `orderbridge.api.reads.StoreReads`).

Mount with `app.include_router(create_rest_router(RestContext(...)))`.
"""

# No `from __future__ import annotations`: FastAPI must see the closure-local `Client` dependency.

import pathlib
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Annotated, Any, Protocol

import orjson
from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator

from orderbridge.api.auth import BearerAuth
from orderbridge.api.idempotency import IdempotencyCache, StoredAnswer
from orderbridge.api.problems import (
    PROBLEM_JSON,
    ProblemError,
    ProblemRoute,
    invalid_command,
    problem_response,
    problem_responses,
)
from orderbridge.api.rest_models import (
    AcceptanceRecorded,
    CommandAccepted,
    CommandView,
    Health,
    OrderDetail,
    OrderPage,
    OrderSummary,
)
from orderbridge.core.commands import Command
from orderbridge.core.decisions import PipelineState
from orderbridge.erp import parsing as p
from orderbridge.erp.parsing import Problem, problem
from orderbridge.erp.port import CommandSink, SubmitOutcome

CHANNEL = "rest"
#: The rule of the pipeline's refusal of an acceptance for an order that is not awaiting one.
_NOT_AWAITING = "not_awaiting_acceptance"


@dataclass(frozen=True, slots=True)
class OrderQuery:
    account: str | None = None
    status: str | None = None
    pipeline_state: str | None = None
    since: datetime | None = None
    limit: int = 50
    offset: int = 0


class OrderReads(Protocol):
    """What the API reads; the store-backed implementation is `orderbridge.api.reads.StoreReads`."""

    async def accounts_of(self, order_id: str) -> list[str]: ...
    async def list_orders(self, query: OrderQuery) -> list[OrderSummary]: ...
    async def order_detail(self, account: str, order_id: str) -> OrderDetail | None: ...
    async def pipeline_state(self, account: str, order_id: str) -> str | None: ...
    async def command(self, command_id: str) -> CommandView | None: ...
    async def health(self) -> Health: ...


@dataclass(frozen=True, slots=True)
class _Target:
    """Who sends a command to which order, and under which Idempotency-Key."""

    request: Request
    client: str
    order_id: str
    account: str | None
    key: str | None


@dataclass
class RestContext:
    sink: CommandSink
    reads: OrderReads
    auth: BearerAuth
    idempotency: IdempotencyCache = field(default_factory=IdempotencyCache)


# Every text parameter refuses NUL (`p.no_nul`): PostgreSQL cannot compare with it and would answer 500.
NoNul = AfterValidator(p.no_nul)
OrderId = Annotated[
    str, Path(min_length=1, max_length=64, description="The VTEX order id, e.g. 1234567890123-01."), NoNul
]
InvoiceNumber = Annotated[str, Path(min_length=1, max_length=50), NoNul]
AccountParam = Annotated[
    str | None,
    Query(max_length=64, description="The VTEX account; needed only when two accounts have this order id."),
    NoNul,
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="A retry with the same key returns the first answer and does nothing twice.",
    ),
]
_bearer = HTTPBearer(auto_error=False, description="A token from the `api.tokens` configuration.")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]

_COMMAND_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {
        "model": CommandAccepted,
        "description": "Validated and stored; it will be relayed to VTEX. The identical repeat of a command "
        "already accepted (same Idempotency-Key, or same invoice number, requestId… and content) is "
        "answered with that first command and `Idempotent-Replayed: true`; nothing is sent twice.",
    },
    **problem_responses(400, 401, 404, 409, 422),
}
_SUBMIT = {"status_code": 202, "response_model": None, "responses": _COMMAND_RESPONSES}


def _json(status: int, model: Any, *, replayed: bool = False) -> StoredAnswer:
    return StoredAnswer(status, orjson.dumps(model.model_dump(mode="json")), "application/json", replayed)


def _problems_of_outcome(outcome: SubmitOutcome, in_path: frozenset[str]) -> list[Problem]:
    """The refusal's reasons for `errors[]`, each pointing where the ERP put the field: the body, or the
    URL for the names in `in_path` (a tracking command's invoice number)."""
    if outcome.violations:
        return [
            Problem(
                v.field,
                v.rule,
                f"{v.message} [{v.rule}]",
                location="parameter" if v.field in in_path else "body",
            )
            for v in outcome.violations
        ]
    out = []
    for message in outcome.problems:  # a refusal without violations: "field: what is wrong [rule]"
        match = re.match(r"^([\w.\[\] -]+?): (.*?)(?: \[(\w+)\])?$", message, re.S)
        if match:
            field, rule = match.group(1), match.group(3) or "rejected"
            if field in in_path:
                out.append(Problem(field, rule, message, location="parameter"))
            else:
                out.append(Problem(field, rule, message))
        else:
            out.append(Problem("command", "rejected", message))
    return out


def _invoice_number(invoiceNumber: InvoiceNumber) -> str:
    """A dependency, not a plain parameter, so the document lists it after `orderId` as before."""
    return invoiceNumber


Invoice = Annotated[str, Depends(_invoice_number)]
#: A tracking command's invoice number comes from the URL: its refusals name the parameter.
_INVOICE_IN_PATH = frozenset({"invoiceNumber"})
#: An acceptance's refusal names the order, which the URL carries.
_ORDER_IN_PATH = frozenset({"orderId"})


async def _resolve_account(reads: OrderReads, order_id: str, account: str | None) -> str:
    accounts = await reads.accounts_of(order_id)
    if account is not None:
        if account not in accounts:
            known = f"order {order_id} of account {account}"
            raise _not_found(f"orderId: {known} is not known to orderbridge [unknown_order]")
        return account
    if not accounts:
        raise _not_found(f"orderId: order {order_id} is not known to orderbridge [unknown_order]")
    if len(accounts) > 1:
        raise ProblemError(
            409,
            "ambiguous-order",
            "Ambiguous order id",
            f"account: order {order_id} exists in several accounts ({', '.join(sorted(accounts))}); "
            "pass ?account= [ambiguous_order]",
        )
    return accounts[0]


async def _answer(
    ctx: RestContext, to: _Target, produce: Callable[[str], Awaitable[StoredAnswer]]
) -> Response:
    """Run `produce` once per Idempotency-Key; refusals are answers too (remembered)."""
    request = to.request

    async def guarded() -> StoredAnswer:
        try:
            return await produce(to.client)
        except ProblemError as exc:
            refused = problem_response(exc, request.url.path)
            return StoredAnswer(exc.status, bytes(refused.body), PROBLEM_JSON)

    if to.key is None:
        stored, replayed = await guarded(), False
    else:
        target = f"{request.url.path}?{request.url.query}"
        fingerprint = IdempotencyCache.fingerprint(request.method, target, await request.body())
        stored, replayed = await ctx.idempotency.run(to.client, to.key, fingerprint, guarded)
    headers = {"Idempotent-Replayed": "true"} if replayed or stored.replayed else {}
    return Response(stored.body, status_code=stored.status, media_type=stored.media_type, headers=headers)


async def _submit(
    ctx: RestContext, to: _Target, build: Callable[[], Command], in_path: frozenset[str] = frozenset()
) -> Response:
    async def produce(client: str) -> StoredAnswer:
        command, order_id = build(), to.order_id
        owner = await _resolve_account(ctx.reads, order_id, to.account)
        outcome = await ctx.sink.submit(
            owner,
            order_id,
            command,
            channel=CHANNEL,
            idempotency_key=f"rest:{client}:{to.key}" if to.key else None,
        )
        if not outcome.accepted or outcome.command_id is None:
            problems = _problems_of_outcome(outcome, in_path) or [_unknown_refusal()]
            raise invalid_command(problems, status=409 if outcome.conflict else 422)
        accepted = CommandAccepted(commandId=outcome.command_id, account=owner, orderId=order_id)
        if outcome.repeat:  # the first command, as it stands now
            first = await ctx.reads.command(outcome.command_id)
            accepted.status = first.status if first is not None else accepted.status
        return _json(202, accepted, replayed=outcome.repeat)

    return await _answer(ctx, to, produce)


def create_rest_router(ctx: RestContext) -> APIRouter:
    def authenticate(credentials: Credentials) -> str:
        """Runs before the body is validated, so an unauthenticated caller learns nothing but 401."""
        if credentials is None:
            return ctx.auth.client_of(None)
        return ctx.auth.client_of(f"{credentials.scheme} {credentials.credentials}")

    Client = Annotated[str, Depends(authenticate)]
    router = APIRouter(route_class=ProblemRoute)
    # Every /api/v1 route authenticates, even one that forgets to ask for `Client` itself.
    v1 = APIRouter(
        prefix="/api/v1", route_class=ProblemRoute, tags=["orders"], dependencies=[Depends(authenticate)]
    )

    def target(
        request: Request,
        client: Client,
        orderId: OrderId,
        account: AccountParam = None,
        idempotency_key: IdempotencyKey = None,
    ) -> _Target:
        return _Target(request, client, orderId, account, idempotency_key)

    # What every write route takes besides its body (FastAPI still documents each parameter).
    Target = Annotated[_Target, Depends(target)]

    @v1.get("/orders", response_model=OrderPage, responses=problem_responses(400, 401, 422))
    async def list_orders(
        account: Annotated[str | None, Query(max_length=64), NoNul] = None,
        status: Annotated[str | None, Query(max_length=64, description="VTEX status."), NoNul] = None,
        pipelineState: Annotated[
            PipelineState | None,
            Query(description="Only orders in this pipeline state (see docs/erp-api.md, Pipeline states)."),
        ] = None,
        since: Annotated[datetime | None, Query(description="Orders updated at or after (ISO 8601).")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    ) -> OrderPage:
        state = pipelineState.value if pipelineState is not None else None
        query = OrderQuery(account, status, state, _in_utc(since), limit + 1, offset)
        items = await ctx.reads.list_orders(query)
        more = len(items) > limit
        return OrderPage(
            items=items[:limit], limit=limit, offset=offset, nextOffset=offset + limit if more else None
        )

    @v1.get(
        "/orders/{orderId}", response_model=OrderDetail, responses=problem_responses(400, 401, 404, 409, 422)
    )
    async def get_order(client: Client, orderId: OrderId, account: AccountParam = None) -> OrderDetail:
        owner = await _resolve_account(ctx.reads, orderId, account)
        detail = await ctx.reads.order_detail(owner, orderId)
        if detail is None:
            raise _not_found(f"orderId: order {orderId} is not known to orderbridge [unknown_order]")
        return detail

    @v1.post(
        "/orders/{orderId}/acceptance",
        status_code=202,
        response_model=None,
        responses={
            202: {
                "model": AcceptanceRecorded,
                "description": "Recorded; the pipeline carries on. The same decision sent again is "
                "answered the same way, with `Idempotent-Replayed: true`; 409 when the order is not "
                "awaiting this answer (its state is named).",
            },
            **problem_responses(400, 401, 404, 409, 422),
        },
    )
    async def post_acceptance(to: Target, body: p.AcceptanceIn) -> Response:
        """The ERP's asynchronous answer to a handover it took with 202 (webhook) or via tables/files."""
        order_id = to.order_id

        async def produce(client: str) -> StoredAnswer:
            problems = p.acceptance_problems(body)
            if problems:
                raise invalid_command(problems)
            owner = await _resolve_account(ctx.reads, order_id, to.account)
            outcome = await ctx.sink.report_acceptance(
                owner, order_id, accepted=body.accepted, erp_reference=body.erpReference, reason=body.reason
            )
            if not outcome.accepted:
                raise _acceptance_refused(outcome)
            recorded = AcceptanceRecorded(account=owner, orderId=order_id, accepted=body.accepted)
            return _json(202, recorded, replayed=outcome.repeat)

        return await _answer(ctx, to, produce)

    @v1.post("/orders/{orderId}/changes", **_SUBMIT)  # type: ignore[arg-type]
    async def post_change(to: Target, body: p.ChangeIn) -> Response:
        """Item changes (removed / added items, discount, increment). `requestId` defaults to a fresh id."""
        default_id = f"rest-{to.key}" if to.key else f"rest-{uuid.uuid4()}"
        return await _submit(ctx, to, lambda: p.change_command(body, default_id))

    @v1.post("/orders/{orderId}/invoices", **_SUBMIT)  # type: ignore[arg-type]
    async def post_invoice(to: Target, body: p.InvoiceIn) -> Response:
        """An invoice, full or partial (`Output`), or a return (`Input`). Values in cents."""
        return await _submit(ctx, to, lambda: p.invoice_command(body))

    @v1.patch("/orders/{orderId}/invoices/{invoiceNumber}", **_SUBMIT)  # type: ignore[arg-type]
    async def patch_invoice(to: Target, invoice: Invoice, body: p.TrackingNumberIn) -> Response:
        """The invoice's tracking number, courier and tracking URL."""
        return await _submit(ctx, to, lambda: p.tracking_number_command(invoice, body), _INVOICE_IN_PATH)

    @v1.post("/orders/{orderId}/invoices/{invoiceNumber}/tracking-events", **_SUBMIT)  # type: ignore[arg-type]
    async def post_tracking_events(to: Target, invoice: Invoice, body: p.TrackingEventsIn) -> Response:
        """Tracking events (only for an invoice that has a tracking number); `isDelivered` ends the trip."""
        return await _submit(ctx, to, lambda: p.tracking_events_command(invoice, body), _INVOICE_IN_PATH)

    @v1.post("/orders/{orderId}/cancellation", **_SUBMIT)  # type: ignore[arg-type]
    async def post_cancellation(to: Target, body: p.CancellationIn) -> Response:
        """Cancel the order (refused once any sale invoice exists: VTEX cannot cancel it any more)."""
        return await _submit(ctx, to, lambda: p.cancel_command(body))

    @v1.post("/orders/{orderId}/cancellation-request/deny", **_SUBMIT)  # type: ignore[arg-type]
    async def post_cancellation_denial(to: Target, body: p.CancellationDenialIn) -> Response:
        """Deny the shopper's cancellation request (the order must be `cancellation-requested`)."""
        return await _submit(ctx, to, lambda: p.deny_command(body))

    @v1.get(
        "/commands/{commandId}",
        response_model=CommandView,
        responses=problem_responses(400, 401, 404, 422),
        tags=["commands"],
    )
    async def get_command(
        client: Client, commandId: Annotated[str, Path(min_length=1, max_length=64), NoNul]
    ) -> CommandView:
        view = await ctx.reads.command(commandId)
        if view is None:
            raise _not_found(f"commandId: command {commandId} is not known [unknown_command]")
        return view

    @router.get(
        "/health",
        response_model=Health,
        responses={
            503: {"model": Health, "description": "The database or an account's VTEX is unreachable."}
        },
        tags=["health"],
    )
    async def health(credentials: Credentials) -> Response:
        """`ok` or `degraded` for anyone; with a valid token also the database and each account's VTEX
        reachability (account names and VTEX error texts are not for anonymous callers)."""
        report = await ctx.reads.health()
        presented = f"{credentials.scheme} {credentials.credentials}" if credentials else None
        shown: dict[str, Any] = report.model_dump(mode="json")
        try:
            ctx.auth.client_of(presented)
        except ProblemError:
            shown = {"status": report.status}
        return Response(
            orjson.dumps(shown),
            status_code=200 if report.status == "ok" else 503,
            media_type="application/json",
        )

    @router.get("/docs", include_in_schema=False)
    async def docs() -> Response:
        """Interactive documentation of this API, with Swagger UI served from this process (no CDN:
        ERP teams often read it from networks that reach nothing else)."""
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="orderbridge ERP API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
        )

    @router.get(DOCS_ASSETS + "/{name}", include_in_schema=False)
    async def docs_asset(name: str) -> Response:
        if name not in _DOCS_FILES:
            return Response(status_code=404)
        return FileResponse(SWAGGER_UI_DIR / name, media_type=_DOCS_FILES[name])

    router.include_router(v1)
    return router


DOCS_ASSETS = "/docs/assets"
#: Swagger UI 5 (reads OpenAPI 3.1), vendored from npm's swagger-ui-dist: see static/README.md.
SWAGGER_UI_DIR = pathlib.Path(__file__).parent / "static" / "swagger"
_DOCS_FILES = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}


class _NoService:
    """Stands in for the sink and the reads when only the API's description is wanted."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError("the OpenAPI-only router serves no requests")


def openapi_document() -> dict[str, Any]:
    """The ERP-facing API's OpenAPI document (`orderbridge openapi`), without a running service."""
    from orderbridge import __version__

    app = FastAPI(
        title="orderbridge ERP API",
        version=__version__,
        description=(
            "Read orders and commands, and send an order's acceptance, item changes, invoices, tracking "
            "and cancellations back to VTEX through orderbridge. Money is integer cents. Every refusal is "
            "RFC 9457 `application/problem+json` naming the field and the rule."
        ),
        docs_url=None,
        redoc_url=None,
    )
    context = RestContext(_NoService(), _NoService(), BearerAuth([]))
    app.include_router(create_rest_router(context))
    return app.openapi()


def _in_utc(since: datetime | None) -> datetime | None:
    """`since` in UTC (naive means UTC); a date-time with no UTC equivalent (year 1 at +14:00) is a 422."""
    if since is None:
        return None
    try:
        return since.astimezone(UTC) if since.tzinfo else since.replace(tzinfo=UTC)
    except OverflowError:
        out_of_range = problem("since", "datetime_range", "is out of the range of dates")
        raise invalid_command([replace(out_of_range, location="parameter")], status=400) from None


def _acceptance_refused(outcome: SubmitOutcome) -> ProblemError:
    """409 naming the order's state (or the recorded answer that differs); 404 for an unknown order."""
    problems = _problems_of_outcome(outcome, _ORDER_IN_PATH) or [_unknown_refusal()]
    if not outcome.conflict:
        return _not_found("; ".join(p.message for p in problems))
    if any(p.rule == _NOT_AWAITING for p in problems):
        detail = "; ".join(p.message for p in problems)
        return ProblemError(
            409, "not-awaiting-acceptance", "Not awaiting acceptance", detail, problems=problems
        )
    return invalid_command(problems, status=409)


def _not_found(detail: str) -> ProblemError:
    return ProblemError(404, "not-found", "Not found", detail)


def _unknown_refusal() -> Problem:
    return problem("command", "rejected", "refused by the pipeline without a reason")
