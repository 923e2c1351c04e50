"""The job handlers the queue runs, by kind. Each is idempotent and re-checks relevance when it starts."""

from __future__ import annotations

from orderbridge.jobs.port import Handler, Job

from .commands import apply_late_acceptance
from .deps import APPLY_ACCEPTANCE, RELAY_COMMAND, SYNC_ORDER, PipelineDeps
from .incomplete import RECHECK_ORDER, recheck_order
from .outages import waiting_out_outages
from .relay import relay_command
from .sync import sync_order


def make_handlers(deps: PipelineDeps) -> dict[str, Handler]:
    """The jobs that call VTEX wait out its outages without spending their attempts (`outages`)."""

    async def acceptance(job: Job) -> None:
        await apply_late_acceptance(deps, job)

    async def recheck(job: Job) -> None:
        await recheck_order(deps, job)

    sync = waiting_out_outages(deps, sync_order)
    relay = waiting_out_outages(deps, relay_command)
    return {SYNC_ORDER: sync, RELAY_COMMAND: relay, APPLY_ACCEPTANCE: acceptance, RECHECK_ORDER: recheck}
