"""`orderbridge sandbox`: serve the app with uvicorn (uvloop + httptools, no access log)."""

from __future__ import annotations

from typing import Any

import uvicorn

from orderbridge.sandbox.app import create_app
from orderbridge.sandbox.config import SandboxConfig


def serve(host: str, port: int, **options: Any) -> None:
    """Run until interrupted. The keyword options are `SandboxConfig` fields (account_name, faults, …)."""
    config = SandboxConfig(**options)
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
