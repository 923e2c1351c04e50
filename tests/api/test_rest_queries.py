"""Query and path parameters of the ERP API's reads: refused with a 400 naming the parameter, never a 5xx."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from orderbridge.api.auth import BearerAuth
from orderbridge.api.rest import OrderQuery, OrderReads, RestContext, create_rest_router, openapi_document
from orderbridge.api.rest_models import OrderSummary
from orderbridge.core.decisions import PipelineState
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
    assert response.status_code == 400
    body: Any = response.json()
    assert [(e["parameter"], e["rule"]) for e in body["errors"]] == [("since", "datetime_range")]
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
    assert response.status_code == 400
    body: Any = response.json()
    assert [(e["parameter"], e["rule"]) for e in body["errors"]] == [(field, "nul_character")]
    assert reads.queries == []


def test_an_unknown_pipeline_state_is_a_400_naming_the_parameter_and_the_store_is_not_asked() -> None:
    reads = _Reads()
    response = _client(reads).get("/api/v1/orders", params={"pipelineState": "bogus"})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: Any = response.json()
    assert [(e["parameter"], e["rule"]) for e in body["errors"]] == [("pipelineState", "enum")]
    assert "awaiting_erp" in body["detail"]
    assert reads.queries == []


def test_every_pipeline_state_is_accepted_and_reaches_the_store() -> None:
    reads = _Reads()
    client = _client(reads)
    for state in PipelineState:
        assert client.get("/api/v1/orders", params={"pipelineState": state.value}).status_code == 200
    assert [q.pipeline_state for q in reads.queries] == [state.value for state in PipelineState]


def test_the_openapi_document_lists_the_pipeline_states() -> None:
    document = openapi_document()
    states = sorted(state.value for state in PipelineState)
    listing = document["paths"]["/api/v1/orders"]["get"]["parameters"]
    [parameter] = [p for p in listing if p["name"] == "pipelineState"]
    schema = document["components"]["schemas"]["PipelineState"]
    assert sorted(schema["enum"]) == states and "PipelineState" in str(parameter["schema"])
    summary = document["components"]["schemas"]["OrderSummary"]["properties"]["pipelineState"]
    assert "#/components/schemas/PipelineState" in str(summary)
