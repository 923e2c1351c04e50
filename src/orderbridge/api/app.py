"""The HTTP face of a running service: the VTEX hook receiver and the ERP-facing REST API (`/api/v1`)."""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import FastAPI
from pydantic import SecretStr

from .erp_api import HasDeps, erp_api_router
from .hooks import hook_router


def create_api(service: HasDeps, api_tokens: Iterable[str | SecretStr] | None = None) -> FastAPI:
    """`api_tokens` default to the service's `settings.api.tokens`; with none, `/api/v1` refuses all."""
    app = FastAPI(title="orderbridge", docs_url=None, redoc_url=None)  # /docs: the REST router's own
    app.state.service = service
    app.include_router(hook_router(service.deps))
    app.include_router(erp_api_router(service, api_tokens))

    @app.get("/healthz")
    async def healthz() -> dict[str, bool]:
        return {"ok": True}

    return app
