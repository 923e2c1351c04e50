"""The ERP-facing API wired to a running pipeline: its sink, its database, its VTEX clients, the tokens.

`api/app.py` mounts it with one line: `app.include_router(erp_api_router(service))`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from fastapi import APIRouter
from pydantic import SecretStr

from orderbridge.api.auth import BearerAuth
from orderbridge.api.reads import Probe, StoreReads
from orderbridge.api.rest import RestContext, create_rest_router
from orderbridge.pipeline.deps import PipelineDeps
from orderbridge.vtex import VtexClient
from orderbridge.vtex.errors import AuthError, VtexError


class HasDeps(Protocol):
    """Anything that exposes the pipeline's wiring (the `Service`, or a test's own assembly)."""

    @property
    def deps(self) -> PipelineDeps: ...


def erp_api_router(service: HasDeps, tokens: Iterable[str | SecretStr] | None = None) -> APIRouter:
    """`tokens` default to the service's `settings.api.tokens` (none configured = every call refused)."""
    deps = service.deps
    if tokens is None:
        settings: Any = getattr(service, "settings", None)
        tokens = tuple(settings.api.tokens) if settings is not None else ()
    probes = {name: _reachability(deps, name, client) for name, client in deps.clients.items()}
    return create_rest_router(RestContext(deps.sink, StoreReads(deps.db, probes), BearerAuth(tokens)))


def _reachability(deps: PipelineDeps, account: str, client: VtexClient) -> Probe:
    """A cheap read-only call (the feed configuration); a paused account is reported as such."""

    async def probe() -> str | None:
        if account in deps.paused:
            return f"paused: {deps.paused[account]}"
        try:
            await client.get_feed_config()
        except AuthError:
            return "VTEX refused the credentials"
        except VtexError as error:
            return f"VTEX unreachable ({type(error).__name__})"
        return None

    return probe
