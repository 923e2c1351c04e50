"""The HTTP face of a running service: the VTEX hook receiver, the ERP-facing REST API (`/api/v1`),
the operators' dashboard (`/ui`) and Prometheus metrics (`/metrics`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from pydantic import SecretStr

from orderbridge.pipeline.oversight import StuckThresholds

from .auth import BearerAuth
from .erp_api import HasDeps, erp_api_router
from .hooks import hook_router
from .limits import (
    API_MAX_BODY_BYTES,
    HOOK_MAX_BODY_BYTES,
    BodyLimit,
    BodyTooLarge,
    TokenFirst,
    answer_too_large,
)
from .metrics import Metrics, metrics_router
from .outages import DATABASE_OUTAGES, answer_database_unavailable
from .rest import openapi_document
from .ui import SignInRequired, sign_in_redirect, ui_router


def create_api(service: HasDeps, api_tokens: Iterable[str | SecretStr] | None = None) -> FastAPI:
    """`api_tokens` default to `settings.api.tokens`; with none, `/api/v1` and `/ui` refuse everyone."""
    app = FastAPI(title="orderbridge", docs_url=None, redoc_url=None)  # /docs: the REST router's own
    # `/openapi.json` (what `/docs` renders) is the ERP API's document, the very one `orderbridge openapi`
    # prints: not the hook receiver's or the probes' routes, which are no ERP's business.
    app.openapi = openapi_document  # type: ignore[method-assign]
    app.state.service = service
    settings: Any = getattr(service, "settings", None)
    tokens = list(api_tokens if api_tokens is not None else (settings.api.tokens if settings else ()))
    thresholds = StuckThresholds(**settings.api.stuck.model_dump()) if settings else StuckThresholds()
    app.include_router(hook_router(service.deps))
    app.include_router(erp_api_router(service, tokens))
    app.include_router(ui_router(service.deps, tokens, thresholds))
    app.add_exception_handler(SignInRequired, sign_in_redirect)
    app.add_exception_handler(BodyTooLarge, answer_too_large)
    for outage in DATABASE_OUTAGES:
        app.add_exception_handler(outage, answer_database_unavailable)
    # Added last = runs first: the token before anything, then the size limit, then the routes.
    api_bytes = settings.api.max_body_bytes if settings else API_MAX_BODY_BYTES
    hook_bytes = settings.api.hook_max_body_bytes if settings else HOOK_MAX_BODY_BYTES
    app.add_middleware(BodyLimit, api_bytes=api_bytes, hook_bytes=hook_bytes)
    app.add_middleware(TokenFirst, auth=BearerAuth(tokens))
    scrape_auth = BearerAuth(tokens) if settings is not None and settings.api.metrics_require_token else None
    app.include_router(metrics_router(Metrics(service.deps.db, thresholds), scrape_auth))

    @app.get("/healthz")
    async def healthz() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse("/ui", status_code=303)

    return app
