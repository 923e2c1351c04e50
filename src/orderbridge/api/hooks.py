"""`POST /hooks/vtex/{account}`: the receiver VTEX's order hook calls (thin: the work is in the pipeline)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from orderbridge.metrics import HOOK_DELIVERIES
from orderbridge.pipeline.deps import HOOK_SECRET_HEADER, PipelineDeps
from orderbridge.pipeline.intake_hook import UNAUTHORIZED, hook_authorized, receive_hook


def hook_router(deps: PipelineDeps) -> APIRouter:
    router = APIRouter()

    @router.post("/hooks/vtex/{account}")
    async def vtex_hook(account: str, request: Request) -> JSONResponse:
        # The secret first: a caller without it gets its 401 before a byte of its body is read.
        if not hook_authorized(deps, account, request.headers.get(HOOK_SECRET_HEADER)):
            if account in deps.accounts:
                HOOK_DELIVERIES.labels(account, str(UNAUTHORIZED.status)).inc()
            return JSONResponse(UNAUTHORIZED.body, status_code=UNAUTHORIZED.status)
        try:
            body: Any = await request.json()
        except (ValueError, RecursionError):  # RecursionError: JSON nested too deep, not our failure
            return JSONResponse({"error": "the body must be JSON"}, status_code=400)
        reply = await receive_hook(deps, account, body)
        if account in deps.accounts:  # an unknown account name must not grow a series per guess
            HOOK_DELIVERIES.labels(account, str(reply.status)).inc()
        return JSONResponse(reply.body, status_code=reply.status)

    return router
