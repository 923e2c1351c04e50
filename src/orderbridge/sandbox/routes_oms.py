"""VTEX OMS order endpoints on VTEX's own paths (thin: parse, call the rule module, answer)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from orderbridge.sandbox import changes, invoices, listing, workflow
from orderbridge.sandbox.gateway import Handler, read_json, vtex_endpoint
from orderbridge.sandbox.responses import ProblemError, empty, json_response, oms_error, raw_json
from orderbridge.sandbox.state import OmsState

ORDERS = "/api/oms/pvt/orders"


async def get_order(request: Request, oms: OmsState, app_key: str) -> Response:
    order = oms.find(request.path_params["orderId"])
    if order is None:
        return oms_error(404, "OMS007", "Order Not Found")
    return raw_json(oms.order_bytes(order["orderId"]))


async def get_order_group(request: Request, oms: OmsState, app_key: str) -> Response:
    group = request.path_params["orderGroup"]
    orders = [o for o in oms.orders.values() if o.get("orderGroup") == group]
    if not orders:
        return oms_error(404, "OMS007", "Order Not Found")
    return raw_json(b"[" + b",".join(oms.order_bytes(o["orderId"]) for o in orders) + b"]")


async def list_orders(request: Request, oms: OmsState, app_key: str) -> Response:
    return json_response(listing.list_orders(oms, dict(request.query_params)))


async def start_handling(request: Request, oms: OmsState, app_key: str) -> Response:
    workflow.start_handling(oms, request.path_params["orderId"])
    return empty(204)


async def cancel(request: Request, oms: OmsState, app_key: str) -> Response:
    body = await read_json(request, required=False) or {}
    reason = body.get("reason") if isinstance(body, dict) else None
    by_user = bool(body.get("requestedByUser")) if isinstance(body, dict) else False
    return json_response(workflow.cancel(oms, request.path_params["orderId"], reason, by_user))


async def changes_v1(request: Request, oms: OmsState, app_key: str) -> Response:
    body = await read_json(request)
    return json_response(changes.change_v1(oms, request.path_params["orderId"], body))


async def invoice(request: Request, oms: OmsState, app_key: str) -> Response:
    body = await read_json(request)
    return json_response(invoices.post_invoice(oms, request.path_params["orderId"], body))


async def patch_invoice(request: Request, oms: OmsState, app_key: str) -> Response:
    body = await read_json(request)
    params = request.path_params
    return json_response(invoices.patch_invoice(oms, params["orderId"], params["invoiceNumber"], body))


async def tracking(request: Request, oms: OmsState, app_key: str) -> Response:
    body = await read_json(request)
    params = request.path_params
    return json_response(invoices.put_tracking(oms, params["orderId"], params["invoiceNumber"], body))


async def change_v2(request: Request, oms: OmsState, app_key: str) -> Response:
    body = await read_json(request)
    return json_response(changes.change_v2(oms, request.path_params["changeOrderId"], body), 202)


async def list_changes_v2(request: Request, oms: OmsState, app_key: str) -> Response:
    return json_response(changes.get_v2(oms, request.path_params["changeOrderId"], None))


async def get_change_v2(request: Request, oms: OmsState, app_key: str) -> Response:
    params = request.path_params
    return json_response(changes.get_v2(oms, params["changeOrderId"], params["changeRequestId"]))


async def deny_cancellation(request: Request, oms: OmsState, app_key: str) -> Response:
    try:
        body = await read_json(request, required=False)
    except Exception as exc:
        raise ProblemError(400, "The request body is not valid JSON") from exc
    workflow.deny_cancellation(oms, request.path_params["orderId"], body)
    return empty(200)


V2 = "/api/order-system/orders/{changeOrderId}/changes"


def _route(path: str, method: str, name: str, handler: Handler) -> Route:
    return Route(path, vtex_endpoint(name, handler), methods=[method])


ROUTES = [
    _route(ORDERS, "GET", "list_orders", list_orders),
    _route(ORDERS + "/{orderId}", "GET", "get_order", get_order),
    _route(ORDERS + "/order-group/{orderGroup}", "GET", "get_order_group", get_order_group),
    _route(ORDERS + "/{orderId}/start-handling", "POST", "start_handling", start_handling),
    _route(ORDERS + "/{orderId}/cancel", "POST", "cancel", cancel),
    _route(ORDERS + "/{orderId}/changes", "POST", "changes_v1", changes_v1),
    _route(ORDERS + "/{orderId}/invoice", "POST", "invoice", invoice),
    _route(ORDERS + "/{orderId}/invoice/{invoiceNumber}", "PATCH", "patch_invoice", patch_invoice),
    _route(ORDERS + "/{orderId}/invoice/{invoiceNumber}/tracking", "PUT", "tracking", tracking),
    _route(V2, "PATCH", "changes_v2", change_v2),
    _route(V2, "GET", "changes_v2", list_changes_v2),
    _route(V2 + "/{changeRequestId}", "GET", "changes_v2", get_change_v2),
    _route(
        "/api/orders/pvt/document/{orderId}/deny-cancellation-request",
        "POST",
        "deny_cancellation",
        deny_cancellation,
    ),
]
