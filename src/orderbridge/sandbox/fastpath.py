"""The Get-order fast path: a raw ASGI layer that answers `GET /api/oms/pvt/orders/{id}` from the
pre-serialized document without building Request/Response objects or routing.

It only takes the happy path (quiet faults, valid credentials, known order); anything else falls
through to the regular endpoint, which produces VTEX's errors. Counters are kept the same way.
"""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from orderbridge.sandbox.state import OmsState

PREFIX = "/api/oms/pvt/orders/"
_KEY, _TOKEN = b"x-vtex-api-appkey", b"x-vtex-api-apptoken"


class FastGetOrder:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            path: str = scope["path"]
            if path.startswith(PREFIX) and "/" not in path[len(PREFIX) :]:
                oms = scope["app"].state.accounts.of_scope(scope)
                body = self._lookup(oms, scope, path[len(PREFIX) :])
                if body is not None:
                    await send(
                        {
                            "type": "http.response.start",
                            "status": 200,
                            "headers": [
                                (b"content-type", b"application/json; charset=utf-8"),
                                (b"content-length", str(len(body)).encode()),
                            ],
                        }
                    )
                    await send({"type": "http.response.body", "body": body})
                    return
        await self.app(scope, receive, send)

    @staticmethod
    def _lookup(oms: OmsState, scope: Scope, order_id: str) -> bytes | None:
        if not oms.faults.is_quiet():
            return None
        key = token = None
        for name, value in scope["headers"]:
            if name == _KEY:
                key = value.decode("latin-1")
            elif name == _TOKEN:
                token = value
        expected = oms.credentials.get(key) if key is not None else None
        if expected is None or token is None or not hmac.compare_digest(expected.encode(), token):
            return None
        oms.tick()
        order = oms.find(order_id)
        if order is None:
            return None
        oms.stats.call("get_order", 200)
        return oms.order_bytes(order["orderId"])
