"""Real processes for the crash test: the sandbox (`orderbridge sandbox`) and the pipeline
(`orderbridge run --config FILE`), the latter killed by SIGKILL at a named crash point and restarted.

Ground truth is read from outside the pipeline: the sandbox over HTTP (Get order, `/_sandbox/stats`)
and the warehouse's SQLite file (handover log, each order's plan).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2

from orderbridge.erp.warehouse import read_handover_counts, read_summary
from orderbridge.erp.warehouse.plans import steps_from_json
from orderbridge.pipeline.crashpoints import CRASH_ENV

ACCOUNT = "crashshop"
APP_KEY = "vtexappkey-crashshop"
APP_TOKEN = "crashshop-token"
VTEX_HEADERS = {"X-VTEX-API-AppKey": APP_KEY, "X-VTEX-API-AppToken": APP_TOKEN}
FINAL_WAREHOUSE_STATES = frozenset({"rejected", "delivered", "done", "self_canceled", "canceled"})
PAST_VISIBILITY_TIMEOUT_S = 300  # the sandbox's feed hides a read event for 240 s
MAX_READ_TRIES = 50


def write_config(workdir: Path, base_url: str, warehouse: str = "") -> Path:
    """The service's configuration: SQLite state, one feed account, a quick simulated warehouse
    (`warehouse`: more `[erp.warehouse]` lines, e.g. "reject_ratio = 1.0")."""
    path = workdir / "orderbridge.toml"
    path.write_text(
        f"""
database_url = "sqlite:///{workdir / "orderbridge.db"}"
workers = 8
reconcile_interval_s = 3600
log_level = "warning"

[[accounts]]
name = "{ACCOUNT}"
base_url = "{base_url}"
pollers = 2

[erp]
adapter = "warehouse"

[erp.warehouse]
database = "{workdir / "warehouse.db"}"
seed = 7
self_cancel_ratio = 0.0
out_of_stock_ratio = 0.0
partial_invoice_ratio = 0.5
tracking_events = 0
first_step_delay_s = 0.0
step_delay_s = 0.0
retry_delay_s = 0.1
idle_poll_s = 0.1
{warehouse}

[api]
enabled = false
"""
    )
    return path


@dataclass
class RunResult:
    killed: bool
    """The process died by SIGKILL (it reached its crash point)."""
    returncode: int | None


class Pipeline:
    """`orderbridge run` as a subprocess; each `run_*` starts a fresh process on the same files."""

    def __init__(self, config: Path, workdir: Path) -> None:
        self.config = config
        self.workdir = workdir
        self.runs = 0

    def _start(self, crash_at: str | None) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "VTEX_APP_KEY": APP_KEY,
            "VTEX_APP_TOKEN": APP_TOKEN,
            "ORDERBRIDGE_LOG_LEVEL": "warning",
        }
        env.pop(CRASH_ENV, None)
        if crash_at is not None:
            env[CRASH_ENV] = crash_at
        self.runs += 1
        log = (self.workdir / f"run-{self.runs}.log").open("wb")
        command = [sys.executable, "-m", "orderbridge.cli", "run", "--config", str(self.config)]
        return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)

    def run_until_crash(self, crash_at: str, truth: GroundTruth, timeout_s: float) -> RunResult:
        """Run until the process kills itself — or, if it never reaches the point, until all is done."""
        process = self._start(crash_at)
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline:
                code = process.poll()
                if code is not None:
                    return RunResult(code == -signal.SIGKILL, code)
                if truth.all_done():
                    break
                time.sleep(0.1)
            return RunResult(False, _stop(process))
        finally:
            _stop(process)

    def run_until_done(
        self, truth: GroundTruth, timeout_s: float, done: Callable[[], bool] | None = None
    ) -> None:
        """A run without crash point, stopped gracefully once every order is final (or `done()`)."""
        process = self._start(None)
        deadline = time.monotonic() + timeout_s
        try:
            while not (done or truth.all_done)():
                code = process.poll()
                if code is not None:
                    raise AssertionError(f"the pipeline exited with {code}: {self.last_log()}")
                if time.monotonic() > deadline:
                    raise AssertionError(f"not done after {timeout_s} s: {truth.progress()}")
                time.sleep(0.2)
        finally:
            _stop(process)

    def last_log(self) -> str:
        return (self.workdir / f"run-{self.runs}.log").read_text(errors="replace")[-3000:]


def _stop(process: subprocess.Popen[bytes]) -> int | None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    return process.returncode


class GroundTruth:
    """What VTEX (the sandbox) and the ERP (the warehouse's file) say, read from outside."""

    def __init__(self, base_url: str, warehouse_db: Path) -> None:
        self.http = httpx2.Client(base_url=base_url, timeout=10.0)
        self.warehouse_db = warehouse_db
        self.order_ids: list[str] = []

    def close(self) -> None:
        self.http.close()

    def seeded_orders(self) -> list[str]:
        """The ids of the orders the sandbox was started with (`--seed-orders`, events in its feed)."""
        listing = self._vtex_get("/api/oms/pvt/orders", params={"per_page": 100})
        self.order_ids = sorted(row["orderId"] for row in listing["list"])
        return self.order_ids

    def advance_clock(self, seconds: float) -> None:
        self.http.post("/_sandbox/clock/advance", json={"seconds": seconds}).raise_for_status()

    def stats(self) -> dict[str, Any]:
        response = self.http.get("/_sandbox/stats")
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def order(self, order_id: str) -> dict[str, Any]:
        return self._vtex_get(f"/api/oms/pvt/orders/{order_id}")

    def _vtex_get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """A read through VTEX's own API; under a fault profile, 429s and 5xx are retried (bounded)."""
        for _ in range(MAX_READ_TRIES):
            response = self.http.get(path, params=params, headers=VTEX_HEADERS)
            if response.status_code != 429 and response.status_code < 500:
                response.raise_for_status()
                body: dict[str, Any] = response.json()
                return body
            time.sleep(0.05)
        raise AssertionError(f"GET {path} kept failing: {response.status_code}")

    def handovers(self) -> dict[str, int]:
        if not self.warehouse_db.exists():
            return {}
        return {oid: n for (acc, oid), n in read_handover_counts(self.warehouse_db).items() if acc == ACCOUNT}

    def planned_invoices(self) -> dict[str, int]:
        """Invoices each order's warehouse plan calls for (the plan is drawn once, at the first handover)."""
        with contextlib.closing(sqlite3.connect(self.warehouse_db)) as conn:
            rows = conn.execute("SELECT order_id, steps FROM orders WHERE account = ?", (ACCOUNT,)).fetchall()
        return {oid: sum(step.kind == "invoice" for step in steps_from_json(steps)) for oid, steps in rows}

    def all_done(self) -> bool:
        """Every order invoiced and delivered (or canceled) at VTEX, the warehouse done, the feed empty.

        The feed is looked at last: the step that makes an order final also puts its status change in
        the feed, and an empty feed read before that step says nothing about the feed after it."""
        if not self.warehouse_db.exists():
            return False
        states = read_summary(self.warehouse_db).states
        if not states or any(state not in FINAL_WAREHOUSE_STATES for state in states):
            return False
        if not all(_final(self.order(order_id)) for order_id in self.order_ids):
            return False
        return bool(self.stats()["feed_depth"] == 0)

    def progress(self) -> str:
        stats = self.stats()
        statuses = {oid: self.order(oid).get("status") for oid in self.order_ids}
        summary = read_summary(self.warehouse_db).to_dict() if self.warehouse_db.exists() else {}
        return json.dumps({"feed_depth": stats["feed_depth"], "statuses": statuses, "warehouse": summary})


def _final(order: dict[str, Any]) -> bool:
    if order.get("status") == "canceled":
        return True
    packages = (order.get("packageAttachment") or {}).get("packages") or []
    delivered = all((p.get("courierStatus") or {}).get("finished") is True for p in packages)
    return order.get("status") == "invoiced" and bool(packages) and delivered


@contextlib.contextmanager
def ground_truth(base_url: str, warehouse_db: Path) -> Iterator[GroundTruth]:
    truth = GroundTruth(base_url, warehouse_db)
    try:
        yield truth
    finally:
        truth.close()
