"""The VTEX hook receiver refuses bodies it cannot read with a 400, never a 5xx (it is open to anyone)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from orderbridge.api.hooks import hook_router
from orderbridge.pipeline.deps import HOOK_SECRET_HEADER, AccountPolicy, PipelineDeps

SECRET = "hook-s3cret"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"{not json", id="malformed"),
        pytest.param(b"\xff\xfe\x00", id="not_utf8"),
        pytest.param(b"[" * 100_000, id="nested_too_deep"),
    ],
)
def test_a_body_that_is_not_readable_json_is_answered_400(body: bytes) -> None:
    # The body is refused before the pipeline stores anything, so only the accounts are needed.
    deps = cast(PipelineDeps, SimpleNamespace(accounts={"shop": AccountPolicy("shop", hook_secret=SECRET)}))
    app = FastAPI()
    app.include_router(hook_router(deps))
    headers = {"Content-Type": "application/json", HOOK_SECRET_HEADER: SECRET}
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post("/hooks/vtex/shop", content=body, headers=headers)
    assert response.status_code == 400
    answer: Any = response.json()
    assert answer == {"error": "the body must be JSON"}
