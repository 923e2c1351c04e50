"""The admin API under `/_sandbox/` for tests and tools: orders, clock, reset, faults, the
shopper's cancellation, stats, the ledger of applied effects. No auth, but loopback callers only;
faults never apply here. `?account=NAME` picks the account (default: the first); the clock, reset and
hook delivery concern every account, faults every account unless one is named."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from orderbridge.sandbox import workflow
from orderbridge.sandbox.accounts import Accounts
from orderbridge.sandbox.clock import iso_z
from orderbridge.sandbox.faults import parse_faults
from orderbridge.sandbox.ledger import ledger as ledger_view
from orderbridge.sandbox.responses import OmsError, ProblemError, json_response
from orderbridge.sandbox.state import OmsState

# Statuses `POST /_sandbox/orders {"count", "status"}` can generate, and the lastState of their event.
GENERATABLE = {
    "payment-pending": "order-created",
    "payment-approved": "payment-pending",
    "window-to-cancel": "payment-approved",
    "ready-for-handling": "window-to-cancel",
    "handling": "start-handling",
}
MAX_ADVANCE_S = 10 * 365 * 86400  # keeps every date printable
_LOOPBACK = {"127.0.0.1", "::1", "localhost", "testclient"}

AdminHandler = Callable[[Request, OmsState], Awaitable[Response]]


def admin_endpoint(handler: AdminHandler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        if request.client is not None and request.client.host not in _LOOPBACK:
            return json_response({"error": "the admin API answers loopback callers only"}, 403)
        try:
            oms = _accounts(request).named(request.query_params.get("account"))
            oms.tick()
            return await handler(request, oms)
        except (OmsError, ProblemError) as exc:
            return exc.response()

    endpoint.__name__ = handler.__name__
    return endpoint


def _accounts(request: Request) -> Accounts:
    accounts: Accounts = request.app.state.accounts
    return accounts


async def _body(request: Request) -> Any:
    raw = await request.body()
    try:
        return orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError as exc:
        raise ProblemError(400, "The request body is not valid JSON") from exc


async def create_orders(request: Request, oms: OmsState) -> Response:
    body = await _body(request)
    if isinstance(body, dict) and isinstance(body.get("orderId"), str):
        return json_response({"orderIds": [_import(oms, body)]})
    count, status, completed = (
        (body.get("count", 1), body.get("status", "ready-for-handling"), body.get("isCompleted", True))
        if isinstance(body, dict)
        else (None, None, None)
    )
    if (
        not isinstance(count, int)
        or not 1 <= count <= 100000
        or not isinstance(status, str)
        or status not in GENERATABLE
        or not isinstance(completed, bool)
    ):
        raise ProblemError(
            400,
            "Body must be {count: 1..100000, status: one of "
            f"{sorted(GENERATABLE)}, isCompleted: true|false}} or a complete VTEX order document",
        )
    ids = oms.generate(count, status, GENERATABLE[status], is_completed=completed)
    return json_response({"orderIds": ids})


async def complete_order(request: Request, oms: OmsState) -> Response:
    """The marketplace completes an order (e.g. its payment arrived): `isCompleted` becomes true.

    Only the document changes (new `lastChange`): no status changes, so no workflow event — as far as
    is known, VTEX announces none either; a FromOrders filter sees the new document."""
    order = oms.find(request.path_params["orderId"])
    if order is None:
        raise ProblemError(404, "Order not found")
    if order.get("isCompleted") is not True:
        order["isCompleted"] = True
        oms.touched(order["orderId"])
    return json_response({"orderId": order["orderId"], "isCompleted": True, "status": order.get("status")})


_IMPORT_TYPES: dict[str, tuple[type, ...]] = {
    "sequence": (str, int),
    "value": (int,),
    "creationDate": (str,),
    "items": (list,),
    "totals": (list,),
    "packageAttachment": (dict,),
}


def _import(oms: OmsState, doc: dict[str, Any]) -> str:
    """Serve a document as is; only the fields the sandbox itself relies on are type-checked."""
    if doc["orderId"] in oms.orders:
        raise ProblemError(409, f"Order {doc['orderId']} already exists")
    status = doc.setdefault("status", None)
    wrong = [
        k for k, kinds in _IMPORT_TYPES.items() if doc.get(k) is not None and not isinstance(doc[k], kinds)
    ]
    if not isinstance(status, str | None) or any(not isinstance(i, dict) for i in doc.get("items") or []):
        wrong.append("status/items")
    if wrong:
        raise ProblemError(400, f"Imported order has fields of the wrong type: {', '.join(wrong)}")
    oms.add_order(doc, "")
    return str(doc["orderId"])


async def advance_clock(request: Request, oms: OmsState) -> Response:
    body = await _body(request)
    seconds = body.get("seconds") if isinstance(body, dict) else None
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds <= MAX_ADVANCE_S:
        raise ProblemError(400, f"Body must be {{seconds: 0..{MAX_ADVANCE_S}}}")
    accounts = _accounts(request)  # one clock: every account's time moves
    accounts.clock.advance(float(seconds))
    accounts.tick()
    await accounts.deliver_due()
    return json_response({"now": iso_z(oms.clock.now())})


async def get_clock(request: Request, oms: OmsState) -> Response:
    return json_response({"now": iso_z(oms.clock.now()), "offset_s": oms.clock.offset_s})


async def reset(request: Request, oms: OmsState) -> Response:
    _accounts(request).reset()
    return json_response({"reset": True})


async def get_faults(request: Request, oms: OmsState) -> Response:
    return json_response(oms.faults.to_json())


async def put_faults(request: Request, oms: OmsState) -> Response:
    """The named account's faults, or every account's when none is named."""
    faults = parse_faults(await _body(request))
    named = request.query_params.get("account") is not None
    for each in [oms] if named else list(_accounts(request)):
        each.faults = faults
    return json_response(faults.to_json())


async def customer_cancel(request: Request, oms: OmsState) -> Response:
    body = await _body(request)
    reason = body.get("reason", "Cancelled by the customer") if isinstance(body, dict) else ""
    try:
        return json_response(workflow.customer_cancel(oms, request.path_params["orderId"], str(reason)))
    except OmsError as exc:
        raise ProblemError(exc.status, exc.message) from exc


async def stats(request: Request, oms: OmsState) -> Response:
    return json_response({**oms.snapshot(), "account": oms.account_name})


async def ledger(request: Request, oms: OmsState) -> Response:
    return json_response({**ledger_view(oms), "account": oms.account_name})


async def deliver_hooks(request: Request, oms: OmsState) -> Response:
    """The named account's due hooks, or every account's when none is named."""
    if request.query_params.get("account") is not None:
        delivered = await oms.hooks.deliver_due(oms.clock.now(), oms.hook_configs)
        return json_response({"delivered": delivered, "pending": len(oms.hooks.pending)})
    accounts = _accounts(request)
    delivered = await accounts.deliver_due()
    return json_response({"delivered": delivered, "pending": accounts.pending_hooks()})


async def health(request: Request, oms: OmsState) -> Response:
    return json_response({"ok": True, "account": oms.account_name, "accounts": _accounts(request).names()})


ROUTES = [
    Route("/_sandbox/health", admin_endpoint(health), methods=["GET"]),
    Route("/_sandbox/orders", admin_endpoint(create_orders), methods=["POST"]),
    Route("/_sandbox/orders/{orderId}/customer-cancel", admin_endpoint(customer_cancel), methods=["POST"]),
    Route("/_sandbox/orders/{orderId}/complete", admin_endpoint(complete_order), methods=["POST"]),
    Route("/_sandbox/clock", admin_endpoint(get_clock), methods=["GET"]),
    Route("/_sandbox/clock/advance", admin_endpoint(advance_clock), methods=["POST"]),
    Route("/_sandbox/reset", admin_endpoint(reset), methods=["POST"]),
    Route("/_sandbox/faults", admin_endpoint(get_faults), methods=["GET"]),
    Route("/_sandbox/faults", admin_endpoint(put_faults), methods=["PUT"]),
    Route("/_sandbox/stats", admin_endpoint(stats), methods=["GET"]),
    Route("/_sandbox/ledger", admin_endpoint(ledger), methods=["GET"]),
    Route("/_sandbox/hooks/deliver", admin_endpoint(deliver_hooks), methods=["POST"]),
]
