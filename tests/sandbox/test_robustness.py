"""Malformed requests get 4xx, never a 5xx: seeded mutations of valid bodies for every writing
endpoint, each followed by the reads that must keep working."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import httpx2

from .conftest import AUTH, Sandbox

ODD_VALUES: list[Any] = [
    None,
    True,
    0,
    -1,
    10**12,
    1.5,
    "",
    "x",
    "-5",
    "*",
    [],
    {},
    [1],
    {"a": 1},
    [{"id": 1}],
]


def mutate(body: Any, rng: random.Random) -> Any:
    """Replace (or drop) one value anywhere in the body."""
    body = copy.deepcopy(body)
    paths: list[list[Any]] = []

    def walk(node: Any, trail: list[Any]) -> None:
        children = (
            node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
        )
        for key, child in children:
            paths.append([*trail, key])
            walk(child, [*trail, key])

    walk(body, [])
    if not paths:
        return rng.choice(ODD_VALUES)
    path = rng.choice(paths)
    parent = body
    for key in path[:-1]:
        parent = parent[key]
    if isinstance(parent, dict) and rng.random() < 0.3:
        del parent[path[-1]]
    else:
        parent[path[-1]] = rng.choice(ODD_VALUES)
    return body


async def valid_requests(sandbox: Sandbox) -> tuple[list[str], list[tuple[str, str, Any]]]:
    ids = await sandbox.orders(3, "handling")
    order = await sandbox.order(ids[0])
    item = order["items"][0]
    line = {"id": item["id"], "price": item["price"], "quantity": 1}
    invoice = {
        "type": "Output",
        "issuanceDate": "2026-01-01T00:00:00Z",
        "invoiceNumber": "NF1",
        "invoiceValue": str(order["value"]),
        "trackingNumber": "T",
        "items": [line],
    }
    assert (await sandbox.post(f"/api/oms/pvt/orders/{ids[0]}/invoice", invoice)).status_code == 200
    queue = {"visibilityTimeoutInSeconds": 0, "MessageRetentionPeriodInSeconds": 345600}
    return ids, [
        ("POST", f"/api/oms/pvt/orders/{ids[0]}/invoice", {**invoice, "invoiceNumber": "NF2"}),
        (
            "POST",
            f"/api/oms/pvt/orders/{ids[1]}/changes",
            {
                "requestId": "r",
                "reason": "x",
                "discountValue": 1,
                "incrementValue": 0,
                "itemsAdded": [{"id": "1001", "price": 10, "quantity": 1}],
                "itemsRemoved": [line],
            },
        ),
        (
            "PATCH",
            f"/api/order-system/orders/{ids[2]}/changes",
            {
                "reason": "x",
                "manualDiscountValue": 1,
                "add": {"items": [{"id": "1001", "quantity": 1}]},
                "remove": {"items": [line]},
                "replace": [{"from": {"items": [line]}, "to": {"items": [line]}}],
            },
        ),
        (
            "PATCH",
            f"/api/oms/pvt/orders/{ids[0]}/invoice/NF1",
            {"trackingNumber": "T", "trackingUrl": None, "courier": None, "dispatchedDate": None},
        ),
        (
            "PUT",
            f"/api/oms/pvt/orders/{ids[0]}/invoice/NF1/tracking",
            {
                "isDelivered": True,
                "deliveredDate": None,
                "events": [{"city": "a", "state": "b", "description": "c"}],
            },
        ),
        (
            "POST",
            "/api/orders/feed/config",
            {"filter": {"type": "FromWorkflow", "status": ["handling"]}, "queue": queue},
        ),
        ("POST", "/api/orders/feed", {"handles": ["a"]}),
        ("POST", "/api/orders/expressions/jsonata", {"Expression": "value > 1", "Document": '{"value": 2}'}),
        ("POST", f"/api/oms/pvt/orders/{ids[1]}/cancel", {"reason": "x", "requestedByUser": True}),
        (
            "PUT",
            "/_sandbox/faults",
            {"latency_ms": 0, "endpoints": {"*": {"ratio_5xx": 0}}, "feed": {"reorder": False}},
        ),
        ("POST", "/_sandbox/orders", {"count": 1, "status": "handling"}),
        ("POST", "/_sandbox/orders", {**order, "orderId": "imported-01"}),
        ("POST", "/_sandbox/clock/advance", {"seconds": 1}),
    ]


async def test_no_malformed_request_makes_the_sandbox_fail(sandbox: Sandbox) -> None:
    ids, requests = await valid_requests(sandbox)
    rng = random.Random(7)
    failures = []
    for n in range(400):
        method, path, body = rng.choice(requests)
        mutated = mutate(body, rng)
        if isinstance(mutated, dict) and mutated.get("orderId") == "imported-01":
            mutated["orderId"] = f"imported-{n}-01"
        response = await sandbox.http.request(method, path, content=json.dumps(mutated), headers=AUTH)
        reads: list[httpx2.Response] = [response]
        await sandbox.http.put("/_sandbox/faults", json={})
        reads.append(await sandbox.http.get("/api/oms/pvt/orders?per_page=100", headers=AUTH))
        reads.append(await sandbox.http.get(f"/api/oms/pvt/orders/{ids[n % 3]}", headers=AUTH))
        reads.append(await sandbox.http.get("/_sandbox/stats"))
        failures += [
            f"{method} {path} {json.dumps(mutated)[:200]} -> {r.request.url.path} {r.status_code}"
            for r in reads
            if r.status_code >= 500
        ]
    assert failures == []


async def test_clock_advance_is_bounded(sandbox: Sandbox) -> None:
    response = await sandbox.http.post("/_sandbox/clock/advance", json={"seconds": 10**12})
    assert response.status_code == 400


async def test_imported_order_with_wrongly_typed_fields_is_refused(sandbox: Sandbox) -> None:
    bad = {"orderId": "odd-01", "status": "handling", "items": [1], "value": "12"}
    assert (await sandbox.http.post("/_sandbox/orders", json=bad)).status_code == 400
