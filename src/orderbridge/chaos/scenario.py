"""What a chaos run stages, on top of the demo's machinery (`orderbridge.demo`): the sandbox and the
pipeline as processes, the demo's store and shoppers — with a hostile VTEX (a fault profile), a warehouse
that refuses, changes items, splits invoices and cancels, and a pipeline killed by SIGKILL again and
again. Everything is drawn from one seed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orderbridge.demo.scenario import DemoOptions
from orderbridge.erp.warehouse import WarehouseSettings

# The ERP's patience for a change to show: `resubmit_after` attempts `retry_delay_s` apart (doubling)
# is ~3 s below; Change v2 answering after 3 s makes the warehouse wait, then resubmit.
SLOW_CHANGES_MS = 3000
# A waiting step is checked at most this often per order: thousands of orders checking every 2 s would
# spend the pipeline's CPU on "not yet" answers rather than on the work that makes them "yes".
PATIENT_RETRY_DELAY_S = 10.0

FAULT_PROFILES: dict[str, dict[str, Any]] = {
    "none": {},
    # ~5 % 5xx, ~5 % 429 with Retry-After, 0.5 % timeouts (12 s, then 504); duplicate, reordered and
    # short feed batches; Change v2 slower than the ERP's patience.
    "flaky": {
        "endpoints": {
            "*": {
                "ratio_5xx": 0.05,
                "ratio_429": 0.05,
                "retry_after_s": 1,
                "ratio_timeout": 0.005,
                "timeout_s": 12,
            },
            "changes_v2": {"latency_ms": SLOW_CHANGES_MS},
        },
        "feed": {"duplicate_ratio": 0.1, "reorder": True, "short_batch_ratio": 0.2},
    },
}


@dataclass(frozen=True)
class ChaosOptions:
    orders: int = 500
    kills: int = 5
    kill_every_s: float = 5.0
    """Mean time between two SIGKILLs (each drawn from 0.5x to 1.5x of it)."""
    database_url: str | None = None
    """None: a SQLite file in the work directory. A PostgreSQL URL must name an empty database."""
    faults: str = "flaky"
    rate: float = 100.0
    """Orders created per second (in waves), so kills meet orders at every stage of their life."""
    timeout_s: float = 600.0
    stall_s: float = 30.0
    """Once every order exists and the kills are done: end early when nothing moved for this long."""
    seed: int = 42
    grace_period_s: float = 1.0
    cancel_in_grace_ratio: float = 0.02
    cancel_after_grace_ratio: float = 0.04
    reject_ratio: float = 0.03
    deny_cancellation_ratio: float = 0.3
    out_of_stock_ratio: float = 0.25
    partial_invoice_ratio: float = 0.25
    self_cancel_ratio: float = 0.02
    workers: int = 0
    """0: one `orderbridge run` (killed and restarted). N: a cluster of N `orderbridge worker` and
    `serve` `orderbridge serve` processes (PostgreSQL only); a kill hits one worker drawn at random."""
    serve: int = 1
    restart_database: bool = False
    """Restart PostgreSQL once, midway through the kills (`orderbridge.chaos.database`)."""
    database_restart_cmd: str | None = None
    """A shell command that restarts the database server; None: `pg_ctl` on a local data directory."""

    def check(self) -> None:
        """Refuse options that cannot be staged, before anything starts."""
        postgres = (self.database_url or "").startswith("postgres")
        if self.workers and not postgres:
            raise ValueError("a cluster (--workers) needs a PostgreSQL --database: SQLite is one process's")
        if self.workers and self.serve < 1:
            raise ValueError("a cluster needs at least one serve process (VTEX's hook goes to it)")
        if self.restart_database and not postgres:
            raise ValueError("--restart-database needs a PostgreSQL --database (SQLite has no server)")

    def demo_options(self) -> DemoOptions:
        """The same run in the demo's terms (the machinery both share)."""
        return DemoOptions(
            orders=self.orders,
            timeout_s=self.timeout_s,
            database_url=self.database_url,
            seed=self.seed,
            grace_period_s=self.grace_period_s,
            cancel_in_grace_ratio=self.cancel_in_grace_ratio,
            cancel_after_grace_ratio=self.cancel_after_grace_ratio,
            reject_ratio=self.reject_ratio,
            deny_cancellation_ratio=self.deny_cancellation_ratio,
        )


def warehouse_settings(options: ChaosOptions, workdir: Path) -> WarehouseSettings:
    """A demanding ERP: refusals, out-of-stock changes, split invoices, self-cancellations, denied
    cancellation requests, tracking to delivery — with short delays so thousands of orders finish."""
    return WarehouseSettings(
        database=str(workdir / "warehouse.db"),
        seed=options.seed,
        reject_ratio=options.reject_ratio,
        deny_cancellation_ratio=options.deny_cancellation_ratio,
        self_cancel_ratio=options.self_cancel_ratio,
        out_of_stock_ratio=options.out_of_stock_ratio,
        partial_invoice_ratio=options.partial_invoice_ratio,
        tracking_events=1,
        first_step_delay_s=0.3,
        step_delay_s=0.1,
        retry_delay_s=0.2,
        max_retry_delay_s=PATIENT_RETRY_DELAY_S,
        max_step_attempts=patient_attempts(options.timeout_s),
        idle_poll_s=0.2,
        batch_size=128,
    )


def patient_attempts(timeout_s: float) -> int:
    """Enough attempts of one step to outlast the run: an ERP that gives an order up because the
    pipeline was busy would count a slow order as a stranded one. A real ERP keeps asking."""
    return max(60, int(timeout_s / PATIENT_RETRY_DELAY_S) + 10)


def fault_profile(name: str) -> dict[str, Any]:
    try:
        return FAULT_PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown fault profile {name!r} (known: {', '.join(FAULT_PROFILES)})") from None
