"""`orderbridge openapi` prints the ERP API's document, for ERP teams to generate clients from."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from orderbridge.cli import app


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
