"""`orderbridge openapi` prints the ERP API's document, for ERP teams to generate clients from: the very
document the running service serves at `/openapi.json` (and `/docs` renders)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from orderbridge.api.app import create_api
from orderbridge.cli import app
from orderbridge.pipeline.deps import PipelineDeps
from orderbridge.store.db import Database


def test_openapi_prints_every_erp_route_with_bearer_security_and_problem_responses(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["openapi"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert "/api/v1/orders/{orderId}/invoices" in document["paths"]
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    invoices = document["paths"]["/api/v1/orders/{orderId}/invoices"]["post"]["responses"]
    assert "application/problem+json" in invoices["422"]["content"]
    written = tmp_path / "erp-api.json"
    assert CliRunner().invoke(app, ["openapi", "--output", str(written)]).exit_code == 0
    assert json.loads(written.read_text()) == document


def test_the_running_service_serves_the_very_document_the_command_prints(tmp_path: Path) -> None:
    class Served:
        def __init__(self, deps: PipelineDeps) -> None:
            self.deps = deps

    erp: Any = None
    deps = PipelineDeps(Database(f"sqlite:///{tmp_path / 'ob.db'}"), {}, erp, {})
    deps.sink = erp  # only the document is read
    printed = json.loads(CliRunner().invoke(app, ["openapi"]).output)

    with TestClient(create_api(Served(deps), api_tokens=["t"])) as client:
        served = client.get("/openapi.json")

    assert served.status_code == 200
    assert served.json() == printed
