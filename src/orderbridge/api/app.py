"""The HTTP face of a running service. Issue 5 adds the REST API and dashboard to this factory."""

from __future__ import annotations

from typing import Protocol

from fastapi import FastAPI

from orderbridge.pipeline.deps import PipelineDeps

from .hooks import hook_router


class HasDeps(Protocol):
    """Anything that exposes the pipeline's wiring (the `Service`, or a test's own assembly)."""

    @property
    def deps(self) -> PipelineDeps: ...


def create_api(service: HasDeps) -> FastAPI:
    app = FastAPI(title="orderbridge", docs_url=None, redoc_url=None)
    app.state.service = service
    app.include_router(hook_router(service.deps))

    @app.get("/healthz")
    async def healthz() -> dict[str, bool]:
        return {"ok": True}

    return app
