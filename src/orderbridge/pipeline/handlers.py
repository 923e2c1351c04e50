"""The job handlers the queue runs, by kind. Each is idempotent and re-checks relevance when it starts."""

from __future__ import annotations

from orderbridge.jobs.port import Handler, Job

from .deps import RELAY_COMMAND, SYNC_ORDER, PipelineDeps
from .relay import relay_command
from .sync import sync_order


def make_handlers(deps: PipelineDeps) -> dict[str, Handler]:
    async def sync(job: Job) -> None:
        await sync_order(deps, job)

    async def relay(job: Job) -> None:
        await relay_command(deps, job)

    return {SYNC_ORDER: sync, RELAY_COMMAND: relay}
