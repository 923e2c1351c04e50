"""`orderbridge sandbox`: serve the app with uvicorn (uvloop + httptools, no access log)."""

from __future__ import annotations

from typing import Any

import uvicorn

from orderbridge.sandbox.app import create_app
from orderbridge.sandbox.config import SandboxConfig


def serve(
    host: str,
    port: int,
    account_name: str,
    app_key: str,
    app_token: str,
    seed_orders: int,
    latency_ms: int,
    faults: str,
    **options: Any,
) -> None:
    """Run until interrupted. Extra keyword options are SandboxConfig fields (e.g. grace_period_s)."""
    config = SandboxConfig(
        account_name=account_name,
        app_key=app_key,
        app_token=app_token,
        seed_orders=seed_orders,
        latency_ms=latency_ms,
        faults=faults,
        **options,
    )
    app = create_app(config)
    uvicorn.run(
        app,
        host=host,
        port=port,
        access_log=False,
        log_level="warning",
        loop="uvloop",
        http="httptools",
        lifespan="on",
    )
