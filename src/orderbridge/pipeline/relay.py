"""The `relay_command` job: send one accepted ERP command to VTEX, under the order's lock.

An invoice is never posted twice: the command is marked "sending" before the POST, so a job that finds
it "sending" (a crash, or a 5xx/timeout whose outcome is unknown) reads the order and looks for the
invoice number in its packages before posting again. Cancel and deny are checked the same way by the
order's status; Change v1 is idempotent by request id, tracking calls are PATCH/PUT. After VTEX
acknowledges, a sync refreshes the snapshot, which confirms the command (see `confirm`).

Every attempt is recorded. 429 → rescheduled without spending an attempt; VTEX refusing (4xx) → the
command is "rejected" with VTEX's message and the job parked for an operator; 401/403 → account paused.
"""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy.engine import Connection

from orderbridge.core.commands import (
    CancelCommand,
    ChangeCommand,
    Command,
    DenyCancellationCommand,
    InvoiceCommand,
    command_from_dict,
)
from orderbridge.jobs.errors import Park, RetryLater
from orderbridge.jobs.port import Job
from orderbridge.store import repo
from orderbridge.store.repo import CommandRow
from orderbridge.vtex.errors import (
    AuthError,
    InvalidInvoiceNumber,
    RateLimited,
    Rejected,
    Unavailable,
    VtexError,
)

from . import accounts, held, ledger
from .crashpoints import crashpoint
from .deps import PipelineDeps
from .intake import enqueue_sync
from .ledger import attempt_of
from .outages import wait_out
from .outbound import send
from .sync import refresh
from .vtex_calls import guard_account

log = structlog.get_logger("orderbridge.pipeline.relay")

DONE_STATUSES = frozenset({"sent", "confirmed"})


async def relay_command(deps: PipelineDeps, job: Job) -> None:
    account, order_id = job.payload["account"], job.payload["order_id"]
    await guard_account(deps, account)
    command_id = job.payload["command_id"]

    def read(conn: Connection) -> tuple[CommandRow | None, repo.OrderRow | None]:
        return repo.get_command(conn, command_id), repo.get_order(conn, account, order_id)

    row, order_row = await deps.db.read(read)
    if row is None or row.status in DONE_STATUSES:
        return
    command = command_from_dict(row.payload)
    v2_request = _v2_request_id(row)
    if v2_request is not None:
        return await _follow_change_v2(deps, job, row, v2_request)
    if row.status == "sending" and await _landed(deps, job, row, command):
        return await _mark_sent(deps, job, row, {"recovered": True})
    baseline = order_row.order_snapshot().extra.get("changes", 0) if order_row is not None else 0
    if not await _mark_sending(deps, row, {"changesBefore": baseline}):
        # Another run of this command acted since we read it (the queue ran the job twice at once):
        # it sends, or found it landed. Sending too could apply it twice; look again shortly.
        await ledger.attempt(
            deps, account, order_id, f"send_{row.kind}", "overtaken", command_id=row.id, job_id=job.id
        )
        raise RetryLater(deps.timing.feed_error_s, f"send_{row.kind}: another run acted", count_attempt=False)
    snapshot = order_row.order_snapshot() if order_row is not None else None
    policy = deps.policy(account)
    try:
        receipt = await send(deps.client(account), policy, order_id, command, snapshot)
        crashpoint(f"{row.kind}_answered")  # e.g. crashpoints.INVOICE_ANSWERED
    except VtexError as error:
        return await _failed(deps, job, row, command, error)
    if isinstance(command, ChangeCommand) and policy.change_api == "v2":
        await _keep_receipt(deps, job, row, receipt)
        return await _follow_change_v2(deps, job, row, str(receipt.get("requestId", "")))
    await _mark_sent(deps, job, row, receipt)


def _v2_request_id(row: CommandRow) -> str | None:
    receipt = row.vtex_receipt or {}
    request_id = receipt.get("requestId")
    return str(request_id) if row.kind == "change" and request_id else None


async def _landed(deps: PipelineDeps, job: Job, row: CommandRow, command: Command) -> bool:
    """Read the order: did the earlier attempt whose outcome is unknown take effect?"""
    if not isinstance(command, InvoiceCommand | CancelCommand | DenyCancellationCommand | ChangeCommand):
        return False  # tracking number (PATCH) and events (PUT) are idempotent: sending again is safe
    if isinstance(command, ChangeCommand) and deps.policy(row.account).change_api == "v1":
        return False  # VTEX applies one Change v1 per request id
    view = await refresh(deps, row.account, row.order_id, job.id, then_sync=True)
    snapshot = view.snapshot
    if isinstance(command, InvoiceCommand):
        landed = snapshot.package(command.invoice_number) is not None
    elif isinstance(command, CancelCommand):
        landed = snapshot.status in ("cancel", "canceled")
    elif isinstance(command, DenyCancellationCommand):
        landed = snapshot.status != "cancellation-requested"
    else:
        before = int((row.vtex_receipt or {}).get("changesBefore", 0))
        landed = int(snapshot.extra.get("changes", 0)) > before
    outcome = "landed" if landed else "not_landed"
    await ledger.attempt(
        deps, row.account, row.order_id, f"check_{row.kind}", outcome, command_id=row.id, job_id=job.id
    )
    return landed


async def _failed(deps: PipelineDeps, job: Job, row: CommandRow, command: Command, error: VtexError) -> None:
    action = f"send_{row.kind}"
    where = {"command_id": row.id, "job_id": job.id, "error": error}
    if isinstance(error, RateLimited):
        await ledger.attempt(deps, row.account, row.order_id, action, "rate_limited", **where)
        raise RetryLater(error.retry_after, f"{action}: rate limited", count_attempt=False) from error
    if isinstance(error, AuthError):
        await ledger.attempt(deps, row.account, row.order_id, action, "auth_error", **where)
        try:
            works = await accounts.key_works(deps, row.account)
        except RateLimited as limited:
            raise RetryLater(limited.retry_after, f"{action}: rate limited", count_attempt=False) from limited
        if works:
            # The key is fine, VTEX refuses this call only (a missing License Manager resource, or a
            # feature VTEX switched off such as Change v1): a rejection for a person, not a pause.
            return await _reject(deps, job, row, error)
        await accounts.pause(deps, row.account, str(error))
        raise RetryLater(deps.timing.paused_probe_s, f"{action}: {error}", count_attempt=False) from error
    if isinstance(error, Unavailable):
        outcome = "unknown" if error.may_have_landed else "unavailable"
        await ledger.attempt(deps, row.account, row.order_id, action, outcome, **where)
        if error.may_have_landed and await _landed(deps, job, row, command):
            return await _mark_sent(deps, job, row, {"recovered": True})
        at_least_s = _unknown_outcome_delay(deps, row)
        raise wait_out(
            deps.timing, job.enqueued_at, deps.clock(), f"{action}: {error}", at_least_s=at_least_s
        ) from error
    if isinstance(error, Rejected):
        return await _hold_or_reject(deps, job, row, error)
    await _reject(deps, job, row, error)


async def _hold_or_reject(deps: PipelineDeps, job: Job, row: CommandRow, error: VtexError) -> None:
    """VTEX said no. While a shopper's cancellation request is open that means "not now": a holdable
    command is held (sent again if the request is denied); otherwise, or for good, it is rejected."""
    if row.kind in held.HOLDABLE_KINDS:
        view = await refresh(deps, row.account, row.order_id, job.id, then_sync=True)
        if held.is_holdable(row, view.snapshot.status):
            return await held.hold(deps, row, job.id, error.message or str(error))
    await _reject(deps, job, row, error)


def _unknown_outcome_delay(deps: PipelineDeps, row: CommandRow) -> float:
    # Change v2 lands asynchronously: give it time to show on the order before the next check.
    return deps.timing.change_poll_s * 4 if row.kind == "change" else deps.timing.feed_error_s


async def _reject(deps: PipelineDeps, job: Job, row: CommandRow, error: VtexError) -> None:
    """VTEX refused: visible on the command, and parked for an operator (retrying would not help)."""
    message = error.message or str(error)
    if isinstance(error, InvalidInvoiceNumber):
        message = error.reason

    def write(conn: Connection) -> None:
        repo.set_command_status(conn, row.id, "rejected", error=message)
        rejected = attempt_of(f"send_{row.kind}", "rejected", error=error, command_id=row.id, job_id=job.id)
        ledger.add(conn, row.account, row.order_id, rejected)

    await deps.db.write(write)
    log.warning("command_rejected", account=row.account, order_id=row.order_id, kind=row.kind, error=message)
    raise Park(f"VTEX refused the {row.kind}: {message}")


async def _mark_sending(deps: PipelineDeps, row: CommandRow, note: dict[str, Any]) -> bool:
    """Mark the command `sending`, only from the state this run read (a compare-and-set): False when
    another run changed it meanwhile, which then owns the sending."""

    def write(conn: Connection) -> bool:
        return repo.set_command_status(
            conn,
            row.id,
            "sending",
            vtex_receipt=note,
            expect_status=row.status,
            expect_updated_at=row.updated_at,
        )

    return await deps.db.write(write)


async def _keep_receipt(deps: PipelineDeps, job: Job, row: CommandRow, receipt: dict[str, Any]) -> None:
    """A Change v2 was accepted for processing (202): remember its id, follow it until done."""

    def write(conn: Connection) -> None:
        repo.set_command_status(conn, row.id, "sending", vtex_receipt=receipt)
        accepted = attempt_of("send_change", "accepted", command_id=row.id, job_id=job.id)
        ledger.add(conn, row.account, row.order_id, accepted)

    await deps.db.write(write)


async def _mark_sent(deps: PipelineDeps, job: Job, row: CommandRow, receipt: dict[str, Any]) -> None:
    def write(conn: Connection) -> None:
        repo.set_command_status(
            conn, row.id, "sent", vtex_receipt=receipt, expect_status=("pending", "sending")
        )
        sent = attempt_of(f"send_{row.kind}", "ok", command_id=row.id, job_id=job.id)
        ledger.add(conn, row.account, row.order_id, sent)
        enqueue_sync(deps.queue, conn, row.account, row.order_id)

    await deps.db.write(write)


async def _follow_change_v2(deps: PipelineDeps, job: Job, row: CommandRow, request_id: str) -> None:
    """Change v2 is asynchronous: the command counts as in progress until VTEX says done or canceled."""
    client = deps.client(row.account)
    try:
        status = await client.get_change_v2(row.order_id, request_id)
    except RateLimited as error:
        raise RetryLater(error.retry_after, "change status: rate limited", count_attempt=False) from error
    if status.status == "done":
        return await _mark_sent(deps, job, row, {"requestId": request_id, "status": "done"})
    if status.status == "canceled":
        # VTEX cancels a change that settles while a shopper's cancellation request is open: a refusal
        # like any other (lost, not held, it stranded one order in 20,000).
        canceled = VtexError(message=f"VTEX canceled change request {request_id}")
        return await _hold_or_reject(deps, job, row, canceled)
    # VTEX is still working on it: a wait (see `outages`), not a failure of the job.
    reason = f"change {request_id} is {status.status}"
    raise wait_out(deps.timing, job.enqueued_at, deps.clock(), reason, at_least_s=deps.timing.change_poll_s)
