"""Bearer-token authentication: every ERP route refuses a request without a valid token (before even
reading its body), and a refusal never echoes what was sent."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from orderbridge.api.auth import BearerAuth
from orderbridge.api.problems import ProblemError
from orderbridge.api.rest import openapi_document

from .served import Served, served_orderbridge

TOKEN = "auth-test-token-0123456789abcdef"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with served_orderbridge(tmp_path_factory.mktemp("auth"), TOKEN, orders=1) as running:
        yield running


def _operations() -> list[tuple[str, str]]:
    paths: dict[str, dict[str, Any]] = openapi_document()["paths"]
    return [
        (method.upper(), path)
        for path, item in paths.items()
        for method in item
        if path.startswith("/api/v1/")
    ]


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x", f"bearer  {TOKEN[:-1]}"],
)
def test_every_erp_route_refuses_a_request_without_a_valid_token(
    served: Served, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    with httpx2.Client(base_url=served.base_url) as client:
        for method, path in _operations():
            url = path.format(orderId=served.order_ids[0], invoiceNumber="NF-1", commandId="c-1")
            response = client.request(method, url, headers=headers, json={"not": "even valid"})
            assert response.status_code == 401, (method, path, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert response.headers["www-authenticate"].startswith("Bearer")
            presented = (authorization or "").split(" ")[-1]
            if len(presented) > 8:  # a token-like value: never echoed back
                assert presented not in response.text


def test_a_valid_token_is_accepted_and_never_echoed(served: Served) -> None:
    with httpx2.Client(base_url=served.base_url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        response = client.get(f"/api/v1/orders/{served.order_ids[0]}")
        refused = client.post(f"/api/v1/orders/{served.order_ids[0]}/cancellation", json={})
    assert response.status_code == 200
    assert refused.status_code == 422
    assert TOKEN not in response.text + refused.text


def test_health_without_a_token_says_only_ok_or_degraded(served: Served) -> None:
    # Account names and VTEX error texts are for the ERP and the operators, not for anyone who asks.
    with httpx2.Client(base_url=served.base_url) as client:
        anonymous = client.get("/health")
        wrong = client.get("/health", headers={"Authorization": "Bearer wrong-token"})
    assert anonymous.status_code == 200
    assert anonymous.json() == wrong.json() == {"status": "ok"}


def test_health_with_a_token_shows_the_database_and_each_account(served: Served) -> None:
    with httpx2.Client(base_url=served.base_url) as client:
        health = client.get("/health", headers={"Authorization": f"Bearer {TOKEN}"})
    assert health.status_code == 200
    assert health.json() == {
        "status": "ok",
        "database": {"ok": True, "detail": None},
        "accounts": {"acme": {"ok": True, "detail": None}},
    }


def test_several_tokens_may_be_configured_and_none_shows_in_repr() -> None:
    auth = BearerAuth(["first-token-123", "second-token-456"])
    assert auth.client_of("Bearer second-token-456") != auth.client_of("Bearer first-token-123")
    assert "token-" not in repr(auth)
    with pytest.raises(ProblemError):
        auth.client_of("Bearer third")
    with pytest.raises(ProblemError):
        BearerAuth([]).client_of("Bearer ")


def test_the_docs_page_loads_swagger_ui_from_this_process_not_a_cdn(served: Served) -> None:
    with httpx2.Client(base_url=served.base_url) as client:
        page = client.get("/docs")
        assets = [client.get(f"/docs/assets/{name}") for name in ("swagger-ui-bundle.js", "swagger-ui.css")]
        unknown = client.get("/docs/assets/index.html")
    assert page.status_code == 200
    assert "cdn." not in page.text and "/docs/assets/swagger-ui-bundle.js" in page.text
    assert [a.status_code for a in assets] == [200, 200] and len(assets[0].content) > 100_000
    assert unknown.status_code == 404
