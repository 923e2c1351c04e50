"""Conformance: every exchange of a full scenario (feed, hook, orders, list, start-handling, changes
v1/v2, invoice, tracking, cancel, JSONata) is validated against VTEX's official OpenAPI spec with
openapi-core: the requests we send must be valid, and so must the sandbox's answers.

Deliberate deviations are listed in DEVIATIONS (mirrored in docs/sandbox.md) with their reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from openapi_core import OpenAPI
from werkzeug.datastructures import Headers, ImmutableMultiDict

from orderbridge.sandbox.app import create_app

from .conftest import AUTH, make_config
from .test_hook import Receiver

SPEC = Path(__file__).resolve().parents[1] / "fixtures" / "vtex" / "VTEX - Orders API.json"

# (method, path pattern, status) -> why the sandbox's answer differs from the spec on purpose.
DEVIATIONS = {
    ("post", "/api/orders/hook/config", 200): (
        "the spec's 200 schema is the hook *notification* (Domain, OrderId, ...); the sandbox answers the "
        "saved configuration {filter, hook}, which is what a client can use"
    ),
}


class SpecRequest:
    """An httpx2 request seen through openapi-core's Request protocol."""

    def __init__(self, request: httpx2.Request) -> None:
        url = urlsplit(str(request.url))
        self.host_url = f"{url.scheme}://{url.netloc}"
        self.path = url.path
        self.method = request.method.lower()
        self.body: bytes | None = request.content or None
        self.content_type = request.headers.get("content-type", "")
        from openapi_core.datatypes import RequestParameters

        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qs(url.query, keep_blank_values=True)),
            header=Headers(dict(request.headers)),
            cookie=ImmutableMultiDict(),
        )


class SpecResponse:
    def __init__(self, response: httpx2.Response) -> None:
        self.status_code = response.status_code
        self.headers = Headers(dict(response.headers))
        self.content_type = response.headers.get("content-type", "")
        self.data: bytes | None = response.content or None


@pytest.fixture(scope="module")
def openapi() -> OpenAPI:
    spec = json.loads(SPEC.read_text())
    spec["servers"] = [{"url": "http://127.0.0.1"}]  # in memory only: validate against our host
    return OpenAPI.from_dict(spec)


class Checker:
    """Sends requests to the in-process sandbox and validates each exchange against the spec."""

    def __init__(self, client: httpx2.AsyncClient, openapi: OpenAPI) -> None:
        self.client, self.openapi = client, openapi
        self.failures: list[str] = []
        self.checked: list[tuple[str, str, int]] = []

    async def __call__(
        self, method: str, path: str, body: Any = None, expect: int = 200, pattern: str | None = None
    ) -> httpx2.Response:
        headers = {**AUTH, "Accept": "application/json", "Content-Type": "application/json"}
        content = json.dumps(body).encode() if body is not None else None
        response = await self.client.request(method, path, content=content, headers=headers)
        assert response.status_code == expect, (method, path, response.status_code, response.text)
        request = SpecRequest(response.request)
        key = (method.lower(), pattern or path.split("?")[0], response.status_code)
        self.checked.append(key)
        try:
            self.openapi.validate_request(request)
        except Exception as exc:
            self.failures.append(f"request {method} {path}: {_explain(exc)}")
        if key in DEVIATIONS:
            return response
        try:
            self.openapi.validate_response(request, SpecResponse(response))
        except Exception as exc:
            self.failures.append(f"response {method} {path} {response.status_code}: {_explain(exc)}")
        return response


def _explain(exc: Exception) -> str:
    """The schema errors (path and message), not the whole offending document."""
    causes = []
    current: BaseException | None = exc
    while current is not None:
        causes.append(f"{type(current).__name__}: {str(current)[:120]}")
        for error in getattr(current, "schema_errors", None) or []:
            where = "/".join(str(p) for p in error.absolute_path)
            causes.append(f"at {where}: {error.message[:200]}")
        current = current.__cause__ or current.__context__
    return " <- ".join(causes)


async def test_sandbox_exchanges_conform_to_the_official_spec(openapi: OpenAPI) -> None:
    app = create_app(make_config(seed_orders=3), hook_transport=httpx2.MockTransport(Receiver()))
    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=app), base_url="http://127.0.0.1"
    ) as client:
        check = Checker(client, openapi)
        await _scenario(check, client)
    assert check.failures == [], "\n".join(check.failures)
    assert len(check.checked) >= 25


async def _scenario(check: Checker, client: httpx2.AsyncClient) -> None:
    queue = {"visibilityTimeoutInSeconds": 240, "MessageRetentionPeriodInSeconds": 345600}
    items = (await check("GET", "/api/orders/feed?maxlot=10")).json()
    await check("POST", "/api/orders/feed", {"handles": [i["handle"] for i in items]})
    await check("GET", "/api/orders/feed/config")
    await check(
        "POST",
        "/api/orders/feed/config",
        {
            "filter": {"type": "FromWorkflow", "status": ["ready-for-handling", "handling", "invoiced"]},
            "queue": queue,
        },
    )
    await check(
        "POST",
        "/api/orders/hook/config",
        {
            "filter": {"type": "FromWorkflow", "status": ["invoiced"]},
            "hook": {"url": "https://erp.example/hook", "headers": {"key": "value"}},
        },
    )
    await check("GET", "/api/orders/hook/config")
    await check(
        "POST",
        "/api/orders/expressions/jsonata",
        {"Expression": "value > 100", "Document": json.dumps({"value": 200})},
    )
    ids = [i["orderId"] for i in items]
    order = (
        await check("GET", f"/api/oms/pvt/orders/{ids[0]}", pattern="/api/oms/pvt/orders/{orderId}")
    ).json()
    await check("GET", f"/api/oms/pvt/orders/seq{order['sequence']}", pattern="/api/oms/pvt/orders/{orderId}")
    await check(
        "GET",
        f"/api/oms/pvt/orders/order-group/{order['orderGroup']}",
        pattern="/api/oms/pvt/orders/order-group/{orderGroup}",
    )
    await check("GET", "/api/oms/pvt/orders?f_status=ready-for-handling&per_page=2&page=1")
    await check(
        "GET",
        "/api/oms/pvt/orders?orderBy=creationDate,desc&f_creationDate="
        "creationDate:[2000-01-01T00:00:00.000Z TO 2100-01-01T00:00:00.000Z]",
    )
    sh = "/api/oms/pvt/orders/{orderId}/start-handling"
    for order_id in ids:
        await check("POST", f"/api/oms/pvt/orders/{order_id}/start-handling", expect=204, pattern=sh)
    await check("POST", f"/api/oms/pvt/orders/{ids[0]}/start-handling", expect=409, pattern=sh)
    item = order["items"][0]
    await check(
        "POST",
        f"/api/oms/pvt/orders/{ids[1]}/changes",
        {
            "requestId": "r-1",
            "reason": "ERP",
            "discountValue": 10,
            "incrementValue": 0,
            "itemsRemoved": [],
            "itemsAdded": [],
        },
        pattern="/api/oms/pvt/orders/{orderId}/changes",
    )
    v2 = (
        await check(
            "PATCH",
            f"/api/order-system/orders/{ids[2]}/changes?accountName=testaccount",
            {"reason": "ERP"},
            expect=202,
            pattern="/api/order-system/orders/{changeOrderId}/changes",
        )
    ).json()
    await client.post("/_sandbox/clock/advance", json={"seconds": 1})
    await check(
        "GET",
        f"/api/order-system/orders/{ids[2]}/changes/{v2['requestId']}?an=testaccount",
        pattern="/api/order-system/orders/{changeOrderId}/changes/{changeRequestId}",
    )
    await check(
        "GET",
        f"/api/order-system/orders/{ids[2]}/changes?an=testaccount",
        pattern="/api/order-system/orders/{changeOrderId}/changes",
    )
    fresh = (
        await check("GET", f"/api/oms/pvt/orders/{ids[0]}", pattern="/api/oms/pvt/orders/{orderId}")
    ).json()
    invoice = {
        "type": "Output",
        "issuanceDate": "2026-11-27T10:00:00",
        "invoiceNumber": "NF100",
        "invoiceValue": str(fresh["value"]),
        "invoiceKey": None,
        "invoiceUrl": None,
        "embeddedInvoice": None,
        "courier": "",
        "trackingNumber": "",
        "trackingUrl": "",
        "dispatchedDate": None,
        "items": [{"id": i["id"], "price": i["price"], "quantity": i["quantity"]} for i in fresh["items"]],
    }
    await check(
        "POST",
        f"/api/oms/pvt/orders/{ids[0]}/invoice",
        invoice,
        pattern="/api/oms/pvt/orders/{orderId}/invoice",
    )
    await check(
        "PATCH",
        f"/api/oms/pvt/orders/{ids[0]}/invoice/NF100",
        {
            "trackingNumber": "TRK1",
            "trackingUrl": "https://track/1",
            "courier": "Correios",
            "dispatchedDate": None,
        },
        pattern="/api/oms/pvt/orders/{orderId}/invoice/{invoiceNumber}",
    )
    await check(
        "PUT",
        f"/api/oms/pvt/orders/{ids[0]}/invoice/NF100/tracking",
        {
            "isDelivered": True,
            "deliveredDate": "2026-11-28 10:00",
            "events": [{"city": "Rio", "state": "RJ", "description": "Delivered", "date": "2026-11-28"}],
        },
        pattern="/api/oms/pvt/orders/{orderId}/invoice/{invoiceNumber}/tracking",
    )
    await client.post("/_sandbox/clock/advance", json={"seconds": 1})
    await check("GET", f"/api/oms/pvt/orders/{ids[0]}", pattern="/api/oms/pvt/orders/{orderId}")
    await check(
        "POST",
        f"/api/oms/pvt/orders/{ids[1]}/cancel",
        {"reason": "ERP"},
        pattern="/api/oms/pvt/orders/{orderId}/cancel",
    )
    await check(
        "POST",
        f"/api/oms/pvt/orders/{item['id']}-missing/cancel",
        {"reason": "x"},
        expect=404,
        pattern="/api/oms/pvt/orders/{orderId}/cancel",
    )
    await check("DELETE", "/api/orders/hook/config")
    await check("DELETE", "/api/orders/feed/config")


def test_the_checker_catches_a_non_conforming_answer(openapi: OpenAPI) -> None:
    request = httpx2.Request(
        "GET",
        "http://127.0.0.1/api/orders/feed?maxlot=1",
        headers={**AUTH, "Accept": "application/json", "Content-Type": "application/json"},
    )
    bad = httpx2.Response(200, json=[{"eventId": 1}], request=request)
    with pytest.raises(Exception, match=r"InvalidData|validat"):
        openapi.validate_response(SpecRequest(request), SpecResponse(bad))
