"""`SimulatedWarehouse`: an ERP adapter that behaves like a small fulfilment warehouse.

It accepts (or rejects) handed-over orders, then drives each accepted order through its stored plan on
ONE background task: each turn reads the due steps from SQLite, builds each step's command from the
order as the pipeline knows it (`sink.current_order`), submits it, and records every outcome in one
transaction. A refused step is retried after `retry_delay_s`, at most `max_step_attempts` times, then
the order is given up (visible in `summary()`). All SQLite work runs on one dedicated thread so the
event loop never blocks on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import structlog

from orderbridge.config import WarehouseSettings
from orderbridge.erp.errors import ErpUnavailable
from orderbridge.erp.port import (
    AcceptanceLater,
    Accepted,
    CancellationDecision,
    CommandSink,
    HandoverOrder,
    HandoverResult,
    Rejected,
)
from orderbridge.erp.warehouse import ledger
from orderbridge.erp.warehouse.documents import NotReady, already_done, build_command
from orderbridge.erp.warehouse.ledger import DueStep, StepResult, WarehouseSummary
from orderbridge.erp.warehouse.plans import erp_reference

log = structlog.get_logger("orderbridge.erp.warehouse")
T = TypeVar("T")

CHANNEL = "warehouse"


def database_path(path_or_url: str | Path) -> Path:
    """Accept a plain path or an SQLAlchemy-style `sqlite:///…` URL; the warehouse needs a real file."""
    text = str(path_or_url)
    for prefix in ("sqlite+aiosqlite:///", "sqlite+pysqlite:///", "sqlite:///"):
        if text.startswith(prefix):
            text = text.removeprefix(prefix)
            break
    if not text or text == ":memory:":
        raise ValueError("the simulated warehouse needs a database file (its log must outlive the process)")
    return Path(text)


class SimulatedWarehouse:
    """The simulated ERP. `autorun=False` leaves step driving to explicit `run_due_steps()` calls (tests)."""

    name = "warehouse"

    def __init__(
        self,
        path_or_url: str | Path,
        settings: WarehouseSettings | None = None,
        *,
        clock: Callable[[], float] = time.time,
        autorun: bool = True,
    ) -> None:
        self.path = database_path(path_or_url)
        self.settings = settings or WarehouseSettings()
        self._clock = clock
        self._autorun = autorun
        self._sink: CommandSink | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None
        self._away = 0  # transactions on the warehouse's thread, not finished yet
        self._closed = False
        self._loop_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._steps_lock = asyncio.Lock()
        #: False: `start` does not start the step loop; whoever set it runs `run_way_back` (the pipeline
        #: does, once per cluster: `pipeline.singletons`).
        self.runs_own_loop = True

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self, sink: CommandSink) -> None:
        self._sink = sink
        self._closed = False
        await self._db(lambda conn: None)  # opens the file and creates the schema now, not on first use
        if self._autorun and self.runs_own_loop and self._loop_task is None:
            self._stopping = False
            self._loop_task = asyncio.create_task(self._step_loop(), name="warehouse-steps")

    async def stop(self, grace_s: float = 10.0) -> None:
        """Let the turn in progress finish and record its outcomes (so no submit is cut in half)."""
        task, self._loop_task = self._loop_task, None
        if task is not None:
            self._stopping = True
            self._wake.set()
            try:
                await asyncio.wait_for(task, grace_s)
            except TimeoutError:
                log.warning("warehouse_loop_stop_timeout", grace_s=grace_s)
        async with self._steps_lock:
            await self._close()

    # -- the ERP port ------------------------------------------------------------------------------

    async def hand_over(self, order: HandoverOrder) -> HandoverResult:
        decision = await self._db(
            ledger.record_handover, order.account, order.snapshot, self._clock(), self.settings
        )
        self._wake.set()
        return self._result_of(decision)

    async def lookup(self, account: str, order_id: str) -> HandoverResult | None:
        """`SupportsLookup`: the decision on an order already received, without logging a handover."""
        decision = await self._db(ledger.find_decision, account, order_id, write=False)
        return None if decision is None else self._result_of(decision)

    def _result_of(self, decision: ledger.Decision) -> HandoverResult:
        if decision.later:
            return AcceptanceLater()
        if decision.accepted:
            return Accepted(erp_reference=erp_reference(self.settings, decision.seq))
        return Rejected(reason=decision.reason)

    async def notify_canceled(self, account: str, order_id: str, reason: str | None) -> None:
        await self._db(ledger.record_cancellation_notice, account, order_id, reason, self._clock())

    async def request_cancellation(
        self, account: str, order_id: str, request_id: str | None, reason: str | None
    ) -> CancellationDecision | None:
        accept, answer = await self._db(
            ledger.decide_cancellation_request,
            account,
            order_id,
            request_id,
            reason,
            self._clock(),
            self.settings,
        )
        return CancellationDecision(accept=accept, reason=answer)

    # -- ground truth for tests and the demo --------------------------------------------------------

    @classmethod
    def from_settings(cls, settings: WarehouseSettings, **options: Any) -> SimulatedWarehouse:
        """The warehouse `[erp.warehouse]` describes (its file is `settings.database`)."""
        return cls(settings.database, settings, **options)

    def handover_counts(self) -> dict[tuple[str, str], int]:
        return read_handover_counts(self.path)

    def summary(self) -> WarehouseSummary:
        return read_summary(self.path)

    # -- the step engine ---------------------------------------------------------------------------

    async def run_due_steps(self) -> int:
        """Run every step due now (up to `batch_size`) and record the outcomes; returns how many ran."""
        if self._sink is None:
            raise RuntimeError("start(sink) the warehouse before running its steps")
        sink = self._sink
        async with self._steps_lock:
            now = self._clock()
            due = await self._db(ledger.due_steps, now, self.settings.batch_size)
            if not due:
                return 0
            results = await asyncio.gather(*(self._run_step(sink, item, now) for item in due))
            await self._db(ledger.record_results, list(results), self._clock(), self.settings)
            return len(due)

    async def _run_step(self, sink: CommandSink, due: DueStep, now: float) -> StepResult:
        try:
            if due.step.kind == "acknowledge":
                await sink.report_acceptance(
                    due.account, due.order_id, accepted=True, erp_reference=due.step.request_id
                )
                return StepResult(due, "advanced", due.step.request_id, "accepted")
            snapshot = await sink.current_order(due.account, due.order_id)
            if snapshot is None:
                return StepResult(due, "retry", "the pipeline does not know the order yet", "not_ready")
            if already_done(due.step, snapshot):
                return StepResult(due, "advanced", "VTEX already shows this step", "skipped")
            if snapshot.status == "canceled":
                return StepResult(due, "canceled", "the order was canceled", "canceled")
            if snapshot.status == "cancellation-requested":  # nothing moves until that is decided
                return StepResult(due, "retry", "a cancellation request is being decided", "not_ready")
            command = build_command(due.step, snapshot, now, self.settings.courier)
            if isinstance(command, NotReady):
                return self._not_ready(due, command)
            outcome = await sink.submit(
                due.account, due.order_id, command, channel=CHANNEL, idempotency_key=idempotency_key(due)
            )
        except Exception as error:  # the pipeline had trouble: the step is retried like a refusal
            log.warning(
                "warehouse_step_failed", order_id=due.order_id, step=due.step.kind, error=type(error).__name__
            )
            return StepResult(due, "retry", f"submit failed: {type(error).__name__}", "error")
        if outcome.accepted:
            return StepResult(due, "advanced", outcome.command_id or "", "accepted")
        return StepResult(due, "retry", "; ".join(outcome.problems) or "refused", "refused")

    def _not_ready(self, due: DueStep, waiting: NotReady) -> StepResult:
        """Retry; but when an earlier invoice never shows, send that invoice again (a fresh command).

        The pipeline accepted that command, yet VTEX may have refused it later (say, an invoice that met
        a shopper's cancellation request). Resending is safe: an invoice is named by its number, and the
        pipeline treats a repeated number with the same value as the same invoice (never posted twice).

        A change is never sent again: it says "remove one unit", and VTEX's Change v2 is slow to show
        it. The warehouse waits for it (found by content), and gives the order up if it never shows.
        """
        target = (due.predecessors or {}).get(waiting.waits_on)
        if (
            waiting.waits_on != "change"
            and target is not None
            and due.attempts + 1 >= self.settings.resubmit_after
            and due.resubmits < self.settings.max_resubmits
        ):
            detail = f"{waiting.reason}; resubmitting the {waiting.waits_on}"
            return StepResult(due, "resubmit", detail, "resubmit", resubmit=waiting.waits_on)
        return StepResult(due, "retry", waiting.reason, "not_ready")

    async def run_way_back(self, stop: asyncio.Event) -> None:
        """The step loop until `stop` is set (or the warehouse stops), for a caller that runs it itself.
        With `autorun=False` nothing runs here either: the test drives the steps."""
        if not self._autorun:
            await stop.wait()
            return
        relay = asyncio.create_task(self._wake_when(stop))
        try:
            await self._steps_until(lambda: stop.is_set() or self._stopping)
        finally:
            relay.cancel()

    async def _wake_when(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._wake.set()

    async def _step_loop(self) -> None:
        await self._steps_until(lambda: self._stopping)

    async def _steps_until(self, stopped: Callable[[], bool]) -> None:
        """One loop for all orders: run what is due, then sleep until the next due step or a new handover."""
        while not stopped():
            try:
                ran = await self.run_due_steps()
            except Exception:  # the loop must outlive any one bad turn; the next turn retries
                log.exception("warehouse_turn_failed")
                ran = 0
            if ran >= self.settings.batch_size or stopped():
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), await self._idle_delay())
            self._wake.clear()

    async def _idle_delay(self) -> float:
        try:
            next_due = await self._db(ledger.next_due_at)
        except ErpUnavailable:
            return self.settings.idle_poll_s
        if next_due is None:
            return self.settings.idle_poll_s
        return min(max(next_due - self._clock(), 0.001), self.settings.idle_poll_s)

    # -- the database ------------------------------------------------------------------------------

    async def _db(self, fn: Callable[..., T], *args: Any, write: bool = True) -> T:
        """Run `fn(conn, *args)` as one transaction; SQLite trouble is retryable (ErpUnavailable).

        `write=False` for a single read: it runs as SQLite's own implicit read transaction, without
        taking the write lock and committing nothing (a lookup precedes every handover).

        Inline on the event loop: a transaction on the warehouse's local file takes microseconds, a hop
        to a thread and back costs more CPU than that. Only a transaction that meets another
        connection's lock (a reader process creating the schema, say) waits for it on the warehouse's
        thread, where SQLite may block; while one is there, the calls after it queue behind it.
        """
        if self._closed:
            # A job still running as the process stops: a new connection on a new thread, while `stop`
            # closes the old one, crashed the interpreter (sqlite3). A failure to retry after the restart.
            raise ErpUnavailable("the warehouse is stopping")
        try:
            if self._conn is not None and not self._away:
                try:
                    return _transaction(self._conn, fn, args) if write else fn(self._conn, *args)
                except sqlite3.OperationalError as error:
                    if getattr(error, "sqlite_errorcode", None) not in _LOCKED:
                        raise
            return await self._in_thread(fn, args)
        except sqlite3.Error as error:
            raise ErpUnavailable(f"warehouse database error: {error}") from error

    async def _in_thread(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="warehouse-db")
        self._away += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, self._waiting, fn, args)
        finally:
            self._away -= 1

    def _waiting(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        """On the warehouse's thread: open the file on first use, and let SQLite wait for a lock."""
        if self._conn is None:
            self._conn = ledger.connect(self.path)
        conn = self._conn
        conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        try:
            return _transaction(conn, fn, args)
        finally:
            conn.execute("PRAGMA busy_timeout=0")  # inline transactions never wait: see `_db`

    async def _close(self) -> None:
        self._closed = True
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.get_running_loop().run_in_executor(executor, self._close_connection)
            executor.shutdown(wait=True)
        self._close_connection()

    def _close_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


def idempotency_key(due: DueStep) -> str:
    """One key per step; a resent invoice gets a fresh one (the pipeline knows it by its number).

    A change keeps its key whatever happens: what the pipeline accepted once is never submitted as new.
    """
    generation = "" if due.step.kind == "change" else due.idempotency_generation
    return f"{CHANNEL}:{due.account}:{due.order_id}:{due.step_no}{generation}"


_LOCKED = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
_BUSY_TIMEOUT_MS = 10_000


def _transaction(conn: sqlite3.Connection, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = fn(conn, *args)
        conn.execute("COMMIT")
    except BaseException:
        # A failed COMMIT (disk full, I/O error) leaves the transaction open: without this ROLLBACK
        # every later BEGIN would fail and the warehouse would stay down until restarted.
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return result


def read_handover_counts(path_or_url: str | Path) -> dict[tuple[str, str], int]:
    """Handovers per order from a warehouse file, readable from any process (WAL lets readers in)."""
    with contextlib.closing(_reader(path_or_url)) as conn:
        return ledger.handover_counts(conn)


def read_plans(path_or_url: str | Path, account: str | None = None) -> list[ledger.PlanRow]:
    """Each order's decision and plan from a warehouse file (the ERP side of `orderbridge.audit`)."""
    with contextlib.closing(_reader(path_or_url)) as conn:
        return ledger.order_plans(conn, account)


def read_summary(path_or_url: str | Path) -> WarehouseSummary:
    with contextlib.closing(_reader(path_or_url)) as conn:
        return ledger.summary(conn)


def _reader(path_or_url: str | Path) -> sqlite3.Connection:
    path = database_path(path_or_url)
    if not path.exists():
        raise FileNotFoundError(f"no warehouse database at {path}")
    conn = sqlite3.connect(path, timeout=10.0)
    conn.executescript(ledger.SCHEMA)  # a file from an older warehouse gains any new table, empty
    return conn
