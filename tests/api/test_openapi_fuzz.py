"""schemathesis against the REST API's own OpenAPI document, over a real socket, with real parts behind
(pipeline, store, sandbox): no 5xx, no status code the document does not declare, bodies as declared."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from orderbridge.api.rest import openapi_document

from .served import Served, served_orderbridge

TOKEN = "fuzz-token-0123456789abcdef"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with served_orderbridge(tmp_path_factory.mktemp("fuzz"), TOKEN) as running:
        yield running


schema = schemathesis.openapi.from_dict(openapi_document())  # the document needs no running service


@schema.parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_rest_api_answers_only_what_its_openapi_declares(
    case: schemathesis.Case,  # type: ignore[type-arg]
    served: Served,
) -> None:
    if case.path_parameters and len(str(case.path_parameters.get("orderId", ""))) % 2 == 0:
        case.path_parameters["orderId"] = served.order_ids[0]  # reach a real order too, not only 404s
    case.call_and_validate(
        base_url=served.base_url,
        headers={"Authorization": f"Bearer {TOKEN}"},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
