"""`run_chaos`: the demo's processes (sandbox, pipeline with its simulated warehouse) under a fault
profile; orders created in waves; shoppers who cancel; the pipeline (or, on a cluster, one of its
workers) killed by SIGKILL at random times and restarted at once; optionally PostgreSQL itself
restarted once midway — watched from outside until every order is final (or parked on the ERP's
refusal, or given up by the ERP) and the feed is empty, or nothing has moved for `stall_s`, or time
runs out. Then the invariant checker judges the run.

After each kill VTEX's clock is moved past the feed's visibility timeout (240 s), so the events the
dead process had read but not committed come back now rather than in four minutes.
"""

from __future__ import annotations

import asyncio
import random
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from orderbridge.audit import ErpOrder, InvariantReport, VtexOrder
from orderbridge.audit.gather import audit, read_erp, read_vtex
from orderbridge.chaos.cluster import Cluster
from orderbridge.chaos.database import DatabaseRestart, database_restart
from orderbridge.chaos.scenario import ChaosOptions, fault_profile, warehouse_settings
from orderbridge.demo.processes import check_alive, kill, start_pipeline, stop
from orderbridge.demo.runner import Shoppers, wait_for_feed
from orderbridge.demo.scenario import (
    ACCOUNT,
    ShopperPlan,
    config_toml,
    database_url,
    sandbox_options,
)
from orderbridge.sandbox.client import SandboxClient
from orderbridge.sandbox.testing import sandbox_client, sandbox_subprocess

PAST_VISIBILITY_TIMEOUT_S = 300
MAX_WAVE = 1000
FAULT_STATUSES = {"429": "429", "500": "5xx", "502": "5xx", "503": "5xx", "504": "timeout"}


@dataclass(frozen=True)
class ChaosProgress:
    created: int
    final: int
    parked: int
    gave_up: int
    kills: int
    feed_depth: int
    elapsed_s: float

    @property
    def settled(self) -> int:
        return self.final + self.parked + self.gave_up


ProgressCallback = Callable[[ChaosProgress], None]


@dataclass(frozen=True)
class ChaosResult:
    options: ChaosOptions
    report: InvariantReport
    kills: int
    faults: dict[str, int]
    elapsed_s: float
    ended: str
    """settled | stalled | timeout."""
    shoppers: dict[str, int] = field(default_factory=dict)
    cluster: dict[str, Any] = field(default_factory=dict)
    """`processes` by role, `kills_by_process`, `database_restarts` and the seconds each took."""

    @property
    def ok(self) -> bool:
        """No violation and nothing left waiting: the run settled and every invariant held."""
        return self.report.ok and not self.report.waiting

    def to_json(self) -> dict[str, Any]:
        report = self.report.to_json()
        return {
            "ok": self.ok,
            "orders": self.report.orders,
            "kills": self.kills,
            "faults": self.faults,
            "fault_profile": self.options.faults,
            "database": "postgresql"
            if (self.options.database_url or "").startswith("postgres")
            else "sqlite",
            "stranded": report["stranded"],
            "doubled": report["doubled"],
            "waiting": report["waiting"],
            "elapsed_s": round(self.elapsed_s, 1),
            "ended": self.ended,
            "shoppers": self.shoppers,
            "cluster": self.cluster,
            "report": report,
        }


class Supervises(Protocol):
    """What the run needs of whoever runs the pipeline's processes."""

    kills: int

    def kill_and_restart(self) -> None: ...
    def check(self) -> None: ...
    def stop(self) -> None: ...
    def figures(self) -> dict[str, Any]:
        """`processes` (count by role) and `kills_by_process`, for the result."""
        ...


SupervisorFactory = Callable[[Path, Path], Supervises]
"""(configuration file, log file) -> the started processes (`Supervisor`: one, killed and restarted;
`Cluster`: serve and worker processes, a worker killed and restarted)."""


class Supervisor:
    """The pipeline process: started, killed by SIGKILL and restarted, stopped gracefully at the end."""

    def __init__(self, config: Path, log_path: Path) -> None:
        self.config = config
        self.log_path = log_path
        self.process = start_pipeline(config, log_path)
        self.kills = 0

    def kill_and_restart(self) -> None:
        kill(self.process)
        self.kills += 1
        self.process = start_pipeline(self.config, self.log_path)

    def check(self) -> None:
        check_alive(self.process, self.log_path)

    def stop(self) -> None:
        stop(self.process)

    def figures(self) -> dict[str, Any]:
        return {"processes": {"run": 1}, "kills_by_process": {"run": self.kills}}


async def run_chaos(
    options: ChaosOptions,
    on_progress: ProgressCallback | None = None,
    workdir: Path | None = None,
    supervisor: SupervisorFactory | None = None,
) -> ChaosResult:
    """Stage the run in `workdir` (default: a temporary directory, removed afterwards). `supervisor`
    starts and kills the pipeline's processes (default: one `orderbridge run`, or the cluster of
    `options.workers`; the high-availability test runs two, kills one)."""
    fault_profile(options.faults)  # an unknown profile fails before anything starts
    options.check()
    # Before anything starts: a run asked to restart a database it cannot restart fails at once.
    restart = (
        database_restart(options.database_url, options.database_restart_cmd)
        if options.restart_database
        else None
    )
    if workdir is not None:
        return await _run_in(options, workdir, on_progress, supervisor, restart)
    with tempfile.TemporaryDirectory(prefix="orderbridge-chaos-") as tmp:
        return await _run_in(options, Path(tmp), on_progress, supervisor, restart)


async def _run_in(
    options: ChaosOptions,
    workdir: Path,
    on_progress: ProgressCallback | None,
    start: SupervisorFactory | None,
    restart: DatabaseRestart | None,
) -> ChaosResult:
    demo = options.demo_options()
    with sandbox_subprocess(**sandbox_options(demo)) as base_url:
        config = workdir / "orderbridge.toml"
        warehouse = warehouse_settings(options, workdir)
        serve_ports = [free_port() for _ in range(options.serve if options.workers else 0)]
        # The service's own default workers: a chaos run stages a store, not the demo's laptop. A
        # cluster's orders come by the feed (the workers' pollers) and by VTEX's hook (to `serve`).
        api_port = serve_ports[0] if serve_ports else None
        hook_url = f"http://127.0.0.1:{api_port}/hooks/vtex/{ACCOUNT}" if api_port else None
        text = config_toml(demo, base_url, workdir, warehouse, None, api_port, hook_url)
        config.write_text(text)
        if start is None:
            start = _cluster_of(options, serve_ports) if options.workers else Supervisor
        supervisor = start(config, workdir / "pipeline.log")
        try:
            async with sandbox_client(base_url, timeout_s=30.0) as sandbox:
                await wait_for_feed(sandbox, supervisor.check)
                response = await sandbox.put("/_sandbox/faults", json=fault_profile(options.faults))
                response.raise_for_status()
                run = _Run(options, sandbox, supervisor, workdir, on_progress, restart)
                return await run.until_settled()
        finally:
            supervisor.stop()


def _cluster_of(options: ChaosOptions, serve_ports: list[int]) -> SupervisorFactory:
    def start(config: Path, log_path: Path) -> Cluster:
        return Cluster(config, log_path.parent, options.workers, serve_ports, options.seed)

    return start


def free_port() -> int:
    """A loopback port free now (the `serve` process binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _Run:
    def __init__(
        self,
        options: ChaosOptions,
        sandbox: SandboxClient,
        supervisor: Supervises,
        workdir: Path,
        on_progress: ProgressCallback | None,
        restart: DatabaseRestart | None = None,
    ) -> None:
        self.options = options
        self.restart = restart
        self.database_restarts: list[float] = []
        """Seconds each restart of the database took."""
        self.sandbox = sandbox
        self.supervisor = supervisor
        self.workdir = workdir
        self.on_progress = on_progress
        self.order_ids: list[str] = []
        self.shoppers = Shoppers(sandbox, ShopperPlan((), ()))
        self.rng = random.Random(f"{options.seed}:kills")
        self.started_at = time.perf_counter()
        self.next_kill = self.started_at + self._kill_gap()
        self.last_kill = self.started_at
        self.last_signature: tuple[int, ...] = ()
        self.last_change = self.started_at

    def _kill_gap(self) -> float:
        return self.rng.uniform(0.5, 1.5) * self.options.kill_every_s

    async def until_settled(self) -> ChaosResult:
        options = self.options
        deadline = self.started_at + options.timeout_s
        tick = max(0.25, min(options.orders / 4000, 2.0))  # the ledger grows with the orders
        while True:
            await self._create_due_orders()
            await self._maybe_kill()
            await self._maybe_restart_database()
            self.supervisor.check()
            vtex, feed_depth = await read_vtex(self.sandbox)
            erp = await asyncio.to_thread(read_erp, self.workdir / "warehouse.db", ACCOUNT)
            await self.shoppers.after_grace({oid: row.start_handling for oid, row in vtex.items()})
            progress = self._progress(vtex, erp, feed_depth)
            if self.on_progress is not None:
                self.on_progress(progress)
            ended = await self._ended(progress, vtex, feed_depth, deadline)
            if ended is not None:
                return await self._result(ended)
            await asyncio.sleep(tick)

    async def _create_due_orders(self) -> None:
        elapsed = time.perf_counter() - self.started_at
        due = min(self.options.orders, int(elapsed * self.options.rate) + 1) - len(self.order_ids)
        while due > 0:
            count = min(due, MAX_WAVE)
            response = await self.sandbox.post("/_sandbox/orders", json={"count": count})
            response.raise_for_status()
            wave = list(response.json()["orderIds"])
            self.order_ids.extend(wave)
            await self.shoppers.add(shopper_plan(wave, self.options))
            due -= count

    async def _maybe_kill(self) -> None:
        if self.supervisor.kills >= self.options.kills or time.perf_counter() < self.next_kill:
            return
        self.supervisor.kill_and_restart()
        self.last_kill = time.perf_counter()
        await self._advance_clock()
        self.next_kill = time.perf_counter() + self._kill_gap()

    async def _maybe_restart_database(self) -> None:
        """Once, midway through the kills: at least half a kill gap after the kill before it, so the
        workers are busy again and the restart meets jobs in flight rather than processes starting."""
        if self.restart is None or self.database_restarts:
            return
        if self.supervisor.kills < self.options.kills // 2 or len(self.order_ids) < self.options.orders // 2:
            return
        if time.perf_counter() < self.last_kill + self.options.kill_every_s / 2:
            return
        took = await asyncio.to_thread(self.restart.run, self.workdir / "database-restart.log")
        self.database_restarts.append(took)
        await self._advance_clock()  # feed events read, not yet committed, when the connections dropped

    async def _advance_clock(self) -> None:
        response = await self.sandbox.post(
            "/_sandbox/clock/advance", json={"seconds": PAST_VISIBILITY_TIMEOUT_S}
        )
        response.raise_for_status()

    def _progress(
        self, vtex: dict[str, VtexOrder], erp: dict[str, ErpOrder], feed_depth: int
    ) -> ChaosProgress:
        final = parked = gave_up = 0
        for order_id in self.order_ids:
            row = vtex.get(order_id) or VtexOrder(status=None)
            decided = erp.get(order_id) or ErpOrder()
            if row.final:
                final += 1
            elif decided.decision == "rejected" and row.start_handling == 0:
                parked += 1
            elif decided.state == "gave_up":
                gave_up += 1
        return ChaosProgress(
            created=len(self.order_ids),
            final=final,
            parked=parked,
            gave_up=gave_up,
            kills=self.supervisor.kills,
            feed_depth=feed_depth,
            elapsed_s=time.perf_counter() - self.started_at,
        )

    async def _ended(
        self, progress: ChaosProgress, vtex: dict[str, VtexOrder], feed_depth: int, deadline: float
    ) -> str | None:
        now = time.perf_counter()
        if now > deadline:
            return "timeout"
        if progress.created < self.options.orders:
            return None
        if progress.settled >= progress.created and feed_depth == 0:
            return "settled"
        signature = (progress.final, progress.parked, progress.gave_up, feed_depth, _effects(vtex))
        if signature != self.last_signature:
            self.last_signature, self.last_change = signature, now
            return None
        quiet = now - self.last_change
        if feed_depth > 0 and quiet >= 5:
            await self._advance_clock()  # events a killed process read and never committed
            self.last_change = now
            return None
        if quiet >= self.options.stall_s and self._disruptions_done():
            return "stalled"
        return None

    def _disruptions_done(self) -> bool:
        restarted = self.restart is None or bool(self.database_restarts)
        return self.supervisor.kills >= self.options.kills and restarted

    async def _result(self, ended: str) -> ChaosResult:
        report = await audit(
            self.order_ids,
            self.sandbox,
            self.workdir / "warehouse.db",
            database_url(self.options.demo_options(), self.workdir),
            ACCOUNT,
        )
        stats = (await self.sandbox.get("/_sandbox/stats")).json()
        return ChaosResult(
            options=self.options,
            report=report,
            kills=self.supervisor.kills,
            faults=_faults(stats),
            cluster={
                **self.supervisor.figures(),
                "database_restarts": len(self.database_restarts),
                "database_restart_s": [round(s, 1) for s in self.database_restarts],
            },
            elapsed_s=time.perf_counter() - self.started_at,
            ended=ended,
            shoppers={
                "canceled_in_grace": len(self.shoppers.plan.in_grace),
                "cancellation_requests": len(self.shoppers.plan.after_grace) - len(self.shoppers.waiting),
                "too_late": self.shoppers.refused,
            },
        )


def shopper_plan(wave: list[str], options: ChaosOptions) -> ShopperPlan:
    """Which orders of a wave their shopper cancels: drawn per order (a wave may hold a handful of
    orders, too few for the demo's per-batch rounding to pick any)."""
    in_grace, after_grace = [], []
    for order_id in wave:
        draw = random.Random(f"{options.seed}:shopper:{order_id}").random()
        if draw < options.cancel_in_grace_ratio:
            in_grace.append(order_id)
        elif draw < options.cancel_in_grace_ratio + options.cancel_after_grace_ratio:
            after_grace.append(order_id)
    return ShopperPlan(tuple(in_grace), tuple(after_grace))


def _effects(vtex: dict[str, VtexOrder]) -> int:
    """A number that moves whenever VTEX applies anything (to tell a stalled run from a slow one)."""
    return sum(
        row.start_handling + row.cancels + sum(row.invoices.values()) + len(row.changes)
        for row in vtex.values()
    )


def _faults(stats: dict[str, Any]) -> dict[str, int]:
    """Faults VTEX answered, by kind (each endpoint's calls by status)."""
    counts = {"429": 0, "5xx": 0, "timeout": 0}
    for by_status in (stats.get("calls") or {}).values():
        for status, n in by_status.items():
            kind = FAULT_STATUSES.get(status)
            if kind is not None:
                counts[kind] += int(n)
    return counts
