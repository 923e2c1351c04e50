"""The warehouse's own SQLite file: every handover received, each order's plan and step pointer,
cancellation notices and every step attempt.

Plain synchronous functions over a `sqlite3.Connection`; `SimulatedWarehouse` runs them on one
dedicated thread, one transaction per call. Nothing here is deleted: the file is the ERP-side ground
truth that tests and the demo read to prove exactly-once.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from orderbridge.config import WarehouseSettings
from orderbridge.core.orders import OrderSnapshot
from orderbridge.erp.warehouse.plans import (
    Step,
    denies_cancellation,
    draw_plan,
    steps_from_json,
    steps_to_json,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS handovers (
    id INTEGER PRIMARY KEY, account TEXT NOT NULL, order_id TEXT NOT NULL, received_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS handovers_by_order ON handovers(account, order_id);
CREATE TABLE IF NOT EXISTS orders (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    account TEXT NOT NULL, order_id TEXT NOT NULL,
    accepted INTEGER NOT NULL, reason TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL, steps TEXT NOT NULL DEFAULT '[]', next_step INTEGER NOT NULL DEFAULT 0,
    due_at REAL, attempts INTEGER NOT NULL DEFAULT 0, last_problem TEXT NOT NULL DEFAULT '',
    invoiced INTEGER NOT NULL DEFAULT 0, resubmits INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL, updated_at REAL NOT NULL,
    UNIQUE (account, order_id));
CREATE INDEX IF NOT EXISTS orders_due ON orders(state, due_at);
CREATE TABLE IF NOT EXISTS cancellations (
    id INTEGER PRIMARY KEY, account TEXT NOT NULL, order_id TEXT NOT NULL, kind TEXT NOT NULL,
    request_id TEXT, reason TEXT, decision TEXT NOT NULL DEFAULT '', received_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS cancellations_by_order ON cancellations(account, order_id);
CREATE TABLE IF NOT EXISTS step_attempts (
    id INTEGER PRIMARY KEY, account TEXT NOT NULL, order_id TEXT NOT NULL, step_no INTEGER NOT NULL,
    kind TEXT NOT NULL, outcome TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '', at REAL NOT NULL);
"""

Outcome = Literal["advanced", "retry", "canceled", "resubmit"]
FINAL_STATES = ("rejected", "delivered", "done", "self_canceled", "canceled", "gave_up")


@dataclass(frozen=True, slots=True)
class Decision:
    accepted: bool
    reason: str
    seq: int
    later: bool = False  # accepted, but the acceptance is still to be reported through the sink


@dataclass(frozen=True, slots=True)
class DueStep:
    account: str
    order_id: str
    seq: int
    step_no: int
    step: Step
    attempts: int
    total_steps: int
    resubmits: int = 0
    predecessors: dict[str, int] | None = None  # "invoice"/"change" → the step number that sends it

    @property
    def idempotency_generation(self) -> str:
        return f":{self.resubmits}" if self.resubmits else ""


@dataclass(frozen=True, slots=True)
class StepResult:
    due: DueStep
    outcome: Outcome
    detail: str = ""
    logged_as: str = ""  # what the attempt log calls it: accepted, refused, not_ready, skipped, error ...
    resubmit: str = ""  # with outcome "resubmit": which predecessor ("invoice" or "change") to send again


@dataclass(frozen=True, slots=True)
class GiveUp:
    account: str
    order_id: str
    step_kind: str
    problem: str


@dataclass(frozen=True, slots=True)
class WarehouseSummary:
    """ERP-side ground truth: `distinct`/`total` handovers and the ids handed over more than once."""

    distinct: int
    total: int
    duplicated_ids: tuple[tuple[str, str], ...]
    accepted: int
    rejected: int
    states: dict[str, int]
    gave_up: tuple[GiveUp, ...]
    cancellation_notices: int
    cancellation_requests: int
    cancellations_denied: int
    commands_accepted: int
    commands_refused: int

    def to_dict(self) -> dict[str, object]:
        return {
            "distinct": self.distinct,
            "total": self.total,
            "duplicated_ids": [list(pair) for pair in self.duplicated_ids],
            "accepted": self.accepted,
            "rejected": self.rejected,
            "states": dict(self.states),
            "gave_up": [vars_of(g) for g in self.gave_up],
            "cancellation_notices": self.cancellation_notices,
            "cancellation_requests": self.cancellation_requests,
            "cancellations_denied": self.cancellations_denied,
            "commands_accepted": self.commands_accepted,
            "commands_refused": self.commands_refused,
        }


def vars_of(give_up: GiveUp) -> dict[str, str]:
    return {
        "account": give_up.account,
        "order_id": give_up.order_id,
        "step_kind": give_up.step_kind,
        "problem": give_up.problem,
    }


def connect(path: Path) -> sqlite3.Connection:
    """Autocommit connection (transactions are explicit) in WAL mode so readers never block the writer."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(SCHEMA)
    columns = {row[1] for row in conn.execute("PRAGMA table_info(orders)")}
    if "resubmits" not in columns:  # a file written before resubmissions existed
        conn.execute("ALTER TABLE orders ADD COLUMN resubmits INTEGER NOT NULL DEFAULT 0")
    return conn


def record_handover(
    conn: sqlite3.Connection, account: str, snapshot: OrderSnapshot, now: float, settings: WarehouseSettings
) -> Decision:
    """Log the handover (always, duplicates too); return the order's decision, drawn the first time."""
    order_id = snapshot.order_id
    conn.execute(
        "INSERT INTO handovers (account, order_id, received_at) VALUES (?, ?, ?)", (account, order_id, now)
    )
    known = find_decision(conn, account, order_id)
    if known is not None:
        return known
    cursor = conn.execute(
        "INSERT INTO orders (account, order_id, accepted, state, created_at, updated_at)"
        " VALUES (?, ?, 0, 'new', ?, ?)",
        (account, order_id, now, now),
    )
    seq = int(cursor.lastrowid or 0)
    plan = draw_plan(snapshot, settings, account, seq)
    state = "rejected" if not plan.accept else ("active" if plan.steps else "done")
    due_at = now + settings.first_step_delay_s if state == "active" else None
    conn.execute(
        "UPDATE orders SET accepted = ?, reason = ?, state = ?, steps = ?, due_at = ? WHERE seq = ?",
        (int(plan.accept), plan.reason, state, steps_to_json(plan.steps), due_at, seq),
    )
    later = bool(plan.steps) and plan.steps[0].kind == "acknowledge"
    return Decision(plan.accept, plan.reason, seq, later)


def find_decision(conn: sqlite3.Connection, account: str, order_id: str) -> Decision | None:
    """The decision taken when the order was first received; None if it never was (nothing logged)."""
    row = conn.execute(
        "SELECT accepted, reason, seq, steps, next_step, state FROM orders"
        " WHERE account = ? AND order_id = ?",
        (account, order_id),
    ).fetchone()
    if row is None:
        return None
    accepted, reason, seq, steps, next_step, state = row
    return Decision(bool(accepted), reason, seq, _acknowledgement_pending(steps, next_step, state))


def _acknowledgement_pending(steps_text: str, next_step: int, state: str) -> bool:
    if next_step > 0 or state != "active":
        return False
    steps = steps_from_json(steps_text)
    return bool(steps) and steps[0].kind == "acknowledge"


def due_steps(conn: sqlite3.Connection, now: float, limit: int) -> list[DueStep]:
    rows = conn.execute(
        "SELECT account, order_id, seq, steps, next_step, attempts, resubmits FROM orders"
        " WHERE state = 'active' AND due_at <= ? ORDER BY due_at LIMIT ?",
        (now, limit),
    ).fetchall()
    due = []
    for account, order_id, seq, steps_text, next_step, attempts, resubmits in rows:
        steps = steps_from_json(steps_text)
        step = steps[next_step]
        due.append(
            DueStep(
                account,
                order_id,
                seq,
                next_step,
                step,
                attempts,
                len(steps),
                resubmits,
                _predecessors(steps, step),
            )
        )
    return due


def _predecessors(steps: tuple[Step, ...], step: Step) -> dict[str, int]:
    """The earlier steps whose effect this one waits for: its invoice, the change before an invoice."""
    found: dict[str, int] = {}
    for n, earlier in enumerate(steps):
        if earlier is step:
            break
        if earlier.kind == "invoice" and earlier.invoice_number == step.invoice_number:
            found["invoice"] = n
        elif earlier.kind == "change" and step.after_change_sku:
            found["change"] = n
    return found


def next_due_at(conn: sqlite3.Connection) -> float | None:
    row = conn.execute("SELECT MIN(due_at) FROM orders WHERE state = 'active'").fetchone()
    return None if row is None or row[0] is None else float(row[0])


def record_results(
    conn: sqlite3.Connection, results: list[StepResult], now: float, settings: WarehouseSettings
) -> None:
    """Move each order's pointer on, schedule a retry, or give it up; only if it is still at that step."""
    for result in results:
        due = result.due
        conn.execute(
            "INSERT INTO step_attempts (account, order_id, step_no, kind, outcome, detail, at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (due.account, due.order_id, due.step_no, due.step.kind, result.logged_as, result.detail, now),
        )
        where = " WHERE seq = ? AND state = 'active' AND next_step = ?"
        key = (due.seq, due.step_no)
        if result.outcome == "advanced":
            _advance(conn, due, now, settings, where, key)
        elif result.outcome == "resubmit":
            conn.execute(
                "UPDATE orders SET next_step = ?, attempts = 0, resubmits = resubmits + 1, due_at = ?,"
                " last_problem = ?, updated_at = ?" + where,
                (_target(due, result), now, result.detail, now, *key),
            )
        elif result.outcome == "canceled":
            conn.execute(
                "UPDATE orders SET state = 'canceled', due_at = NULL, updated_at = ?" + where, (now, *key)
            )
        elif due.attempts + 1 >= settings.max_step_attempts:
            conn.execute(
                "UPDATE orders SET state = 'gave_up', due_at = NULL, attempts = attempts + 1,"
                " last_problem = ?, updated_at = ?" + where,
                (result.detail, now, *key),
            )
        else:
            conn.execute(
                "UPDATE orders SET due_at = ?, attempts = attempts + 1, last_problem = ?, updated_at = ?"
                + where,
                (now + retry_delay(settings, due.attempts), result.detail, now, *key),
            )


def _target(due: DueStep, result: StepResult) -> int:
    return (due.predecessors or {})[result.resubmit]


def retry_delay(settings: WarehouseSettings, attempts_before: int) -> float:
    """Exponential backoff, so orders the pipeline keeps refusing do not flood it with submits."""
    return min(settings.retry_delay_s * 2.0 ** min(attempts_before, 30), settings.max_retry_delay_s)


def _advance(
    conn: sqlite3.Connection,
    due: DueStep,
    now: float,
    settings: WarehouseSettings,
    where: str,
    key: tuple[int, int],
) -> None:
    finished = due.step_no + 1 >= due.total_steps
    state = _final_state(due.step.kind) if finished else "active"
    conn.execute(
        "UPDATE orders SET next_step = next_step + 1, attempts = 0, last_problem = '', state = ?,"
        " due_at = ?, invoiced = MAX(invoiced, ?), updated_at = ?" + where,
        (
            state,
            None if finished else now + settings.step_delay_s,
            int(due.step.kind == "invoice"),
            now,
            *key,
        ),
    )


def _final_state(last_step: str) -> str:
    return {"cancel": "self_canceled", "tracking_events": "delivered"}.get(last_step, "done")


def record_cancellation_notice(
    conn: sqlite3.Connection, account: str, order_id: str, reason: str | None, now: float
) -> None:
    """VTEX says the order is canceled: log it and stop whatever the plan still had to do."""
    conn.execute(
        "INSERT INTO cancellations (account, order_id, kind, reason, decision, received_at)"
        " VALUES (?, ?, 'notice', ?, 'noted', ?)",
        (account, order_id, reason, now),
    )
    _stop_plan(conn, account, order_id, now)


def decide_cancellation_request(
    conn: sqlite3.Connection,
    account: str,
    order_id: str,
    request_id: str | None,
    reason: str | None,
    now: float,
    settings: WarehouseSettings,
) -> tuple[bool, str]:
    """Accept unless something was invoiced or the deny draw picks it; a repeated request, same answer."""
    if request_id is not None:
        earlier = conn.execute(
            "SELECT decision, reason FROM cancellations WHERE account = ? AND order_id = ?"
            " AND kind = 'request' AND request_id = ? ORDER BY id LIMIT 1",
            (account, order_id, request_id),
        ).fetchone()
        if earlier is not None:  # asked again (a retried job): logged too, answered the same
            accept, answer = _replay_decision(earlier[0])
            _log_request(conn, account, order_id, request_id, reason, accept, answer, now)
            return accept, answer
    row = conn.execute(
        "SELECT invoiced FROM orders WHERE account = ? AND order_id = ?", (account, order_id)
    ).fetchone()
    if row is not None and row[0]:
        accept, answer = False, "The order was already invoiced by the warehouse"
    elif denies_cancellation(settings, account, order_id):
        accept, answer = False, "The order has already left the warehouse"
    else:
        accept, answer = True, ""
    _log_request(conn, account, order_id, request_id, reason, accept, answer, now)
    if accept:
        _stop_plan(conn, account, order_id, now)
    return accept, answer


def _log_request(
    conn: sqlite3.Connection,
    account: str,
    order_id: str,
    request_id: str | None,
    reason: str | None,
    accept: bool,
    answer: str,
    now: float,
) -> None:
    conn.execute(
        "INSERT INTO cancellations (account, order_id, kind, request_id, reason, decision, received_at)"
        " VALUES (?, ?, 'request', ?, ?, ?, ?)",
        (account, order_id, request_id, reason, "accept" if accept else f"deny:{answer}", now),
    )


def _replay_decision(stored: str) -> tuple[bool, str]:
    if stored == "accept":
        return True, ""
    return False, stored.removeprefix("deny:")


def _stop_plan(conn: sqlite3.Connection, account: str, order_id: str, now: float) -> None:
    conn.execute(
        "UPDATE orders SET state = 'canceled', due_at = NULL, updated_at = ?"
        " WHERE account = ? AND order_id = ? AND state = 'active'",
        (now, account, order_id),
    )


@dataclass(frozen=True, slots=True)
class PlanRow:
    """One order as the warehouse decided it: its answer, where its plan stands, and the plan itself
    (the changes and invoices the ERP will ask VTEX for — what the invariant checker holds VTEX to)."""

    account: str
    order_id: str
    accepted: bool
    state: str
    steps: tuple[Step, ...]
    next_step: int


def order_plans(conn: sqlite3.Connection, account: str | None = None) -> list[PlanRow]:
    query = "SELECT account, order_id, accepted, state, steps, next_step FROM orders"
    rows = (
        conn.execute(query + " WHERE account = ? ORDER BY seq", (account,))
        if account is not None
        else conn.execute(query + " ORDER BY seq")
    )
    return [
        PlanRow(acc, order_id, bool(accepted), state, steps_from_json(steps), next_step)
        for acc, order_id, accepted, state, steps, next_step in rows
    ]


def handover_counts(conn: sqlite3.Connection) -> dict[tuple[str, str], int]:
    rows = conn.execute("SELECT account, order_id, COUNT(*) FROM handovers GROUP BY account, order_id")
    return {(account, order_id): count for account, order_id, count in rows}


def summary(conn: sqlite3.Connection) -> WarehouseSummary:
    counts = handover_counts(conn)
    states = dict(conn.execute("SELECT state, COUNT(*) FROM orders GROUP BY state").fetchall())
    gave_up = conn.execute(
        "SELECT account, order_id, steps, next_step, last_problem FROM orders WHERE state = 'gave_up'"
        " ORDER BY seq"
    ).fetchall()
    kinds = dict(conn.execute("SELECT kind, COUNT(*) FROM cancellations GROUP BY kind").fetchall())
    denied = conn.execute(
        "SELECT COUNT(*) FROM cancellations WHERE kind = 'request' AND decision LIKE 'deny:%'"
    ).fetchone()[0]
    outcomes = dict(conn.execute("SELECT outcome, COUNT(*) FROM step_attempts GROUP BY outcome").fetchall())
    return WarehouseSummary(
        distinct=len(counts),
        total=sum(counts.values()),
        duplicated_ids=tuple(sorted(key for key, count in counts.items() if count > 1)),
        accepted=sum(n for state, n in states.items() if state != "rejected"),
        rejected=states.get("rejected", 0),
        states=states,
        gave_up=tuple(
            GiveUp(account, order_id, steps_from_json(steps)[step_no].kind, problem)
            for account, order_id, steps, step_no, problem in gave_up
        ),
        cancellation_notices=kinds.get("notice", 0),
        cancellation_requests=kinds.get("request", 0),
        cancellations_denied=int(denied),
        commands_accepted=outcomes.get("accepted", 0),
        commands_refused=outcomes.get("refused", 0),
    )
