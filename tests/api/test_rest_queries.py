"""Query parameters of the ERP API's reads: refused with a 422 naming the parameter, never a 5xx."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from orderbridge.api.auth import BearerAuth
from orderbridge.api.rest import OrderQuery, OrderReads, RestContext, create_rest_router
from orderbridge.api.rest_models import OrderSummary
from orderbridge.erp.port import CommandSink

TOKEN = "t-123"


class _Reads:
    def __init__(self) -> None:
        self.queries: list[OrderQuery] = []

    async def list_orders(self, query: OrderQuery) -> list[OrderSummary]:
        self.queries.append(query)
        return []


def _client(reads: _Reads) -> TestClient:
    context = RestContext(cast(CommandSink, None), cast(OrderReads, reads), BearerAuth([TOKEN]))
    app = FastAPI()
    app.include_router(create_rest_router(context))
    return TestClient(app, raise_server_exceptions=False, headers={"Authorization": f"Bearer {TOKEN}"})


@pytest.mark.parametrize("since", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_a_since_with_no_utc_equivalent_is_refused_naming_the_parameter(since: str) -> None:
    reads = _Reads()
    response = _client(reads).get("/api/v1/orders", params={"since": since})
    assert response.status_code == 422
    body: Any = response.json()
    assert [(e["field"], e["rule"]) for e in body["errors"]] == [("since", "datetime_range")]
    assert reads.queries == []


def test_since_reaches_the_store_in_utc_and_a_naive_one_counts_as_utc() -> None:
    reads = _Reads()
    client = _client(reads)
    assert client.get("/api/v1/orders", params={"since": "2026-11-27T10:00:00-03:00"}).status_code == 200
    assert client.get("/api/v1/orders", params={"since": "2026-11-27T10:00:00"}).status_code == 200
    assert [q.since for q in reads.queries] == [
        datetime(2026, 11, 27, 13, tzinfo=UTC),
        datetime(2026, 11, 27, 10, tzinfo=UTC),
    ]


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/v1/orders", {"status": "handling\x00"}, "status"),
        ("/api/v1/orders", {"account": "a\x00"}, "account"),
        ("/api/v1/orders/1-01%00", {}, "orderId"),
        ("/api/v1/commands/c%00", {}, "commandId"),
    ],
)
def test_a_nul_in_a_parameter_is_refused_naming_it_before_the_store_is_asked(
    path: str, params: dict[str, str], field: str
) -> None:
    reads = _Reads()  # has no order lookups: reaching the store would be a 500 here
    response = _client(reads).get(path, params=params)
    assert response.status_code == 422
    body: Any = response.json()
    assert [(e["field"], e["rule"]) for e in body["errors"]] == [(field, "nul_character")]
    assert reads.queries == []
