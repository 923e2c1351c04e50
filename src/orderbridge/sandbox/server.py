"""`orderbridge sandbox`: serve the app with uvicorn (uvloop + httptools, no access log)."""

from __future__ import annotations

from typing import Any

import uvicorn

from orderbridge.sandbox.app import create_app
from orderbridge.sandbox.config import SandboxConfig


def serve(host: str, port: int, **options: Any) -> None:
    """Run until interrupted. The keyword options are `SandboxConfig` fields (account_name, faults, …)."""
    serve_config(host, port, SandboxConfig(**options))


def serve_config(host: str, port: int, config: SandboxConfig) -> None:
    """Run `config`'s sandbox until interrupted."""
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
