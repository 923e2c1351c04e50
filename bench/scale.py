"""Scale-out on PostgreSQL: 1 and 4 VTEX accounts, 1 / 2 / 3 `orderbridge worker` processes, same conditions.

    .venv/bin/python bench/scale.py             # 1,4 accounts x 1,2,3 workers; 30 s measured each (~6 min)
    .venv/bin/python bench/scale.py --quick     # 1,4 accounts x 1,2 workers, 5 s each (~1.5 min): it works
    .venv/bin/python bench/scale.py --accounts 4 --worker-processes 3 --seconds 60 --json /tmp/scale.json
    .venv/bin/python bench/scale.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres

PostgreSQL: `--database-url` (default `$ORDERBRIDGE_BENCH_PG_URL`, else `$ORDERBRIDGE_TEST_PG_URL` as
`scripts/postgres-up.sh` writes it to `.pg/env`) names a server; each configuration gets a fresh database
on it (created and migrated, procrastinate's schema included; dropped afterwards). Use a cluster nothing
else uses meanwhile: its CPU is read as a whole.

For each configuration (accounts x worker processes), in this order, the same conditions:
- a fresh `orderbridge sandbox` process serving the accounts (`--account`, one process), 50 ms latency
  on every VTEX call and Get order limited to 6000/min per account, counted over 1 s windows (100 calls
  in any second, 429 + Retry-After beyond: the strict reading `bench/pipeline.py` uses);
- orders: a second's worth ready in each account's feed at the start, then, once every account has had
  an order started, created by the bench in each account at `--arrival-factor` (1.1) x its bound (110
  a second, in batches every 0.1 s): more than the bound, so the bound is what limits, and a queue that
  grows by only 10 orders a second, so the figures are those of an account at its bound. `--seed-all`
  puts every order of the run in the feed before the workers start instead: the pollers take them in
  at once, so the measured window pays for the intake of thousands of orders not started yet and runs
  with thousands of jobs waiting (the catch-up after an outage, not the steady state);
- the ERP: the `webhook` adapter delivering to a receiver in this process that checks each signature
  and accepts every order at once (`bench/latency.py`'s);
- N `orderbridge worker --config` processes started together (feed intake; the service's default
  settings, e.g. `workers` = 64 jobs at once per process, unless `--jobs-per-worker`; `[jobs]
  shutdown_grace_s` = 1 s only so that the teardown between configurations is short). They share the
  once-per-cluster loops (each account's feed pollers run in one of them) and each account's VTEX
  quota (one GCRA row per account in PostgreSQL).
Once every account has had an order started, `--warmup-s` seconds pass (not counted), then the bench
measures for `--seconds`:
- orders/s: orders started at VTEX (ready -> start-handling accepted; the sandbox's stats), all accounts;
- jobs/s: jobs the workers finished (procrastinate's job id sequence minus the jobs still waiting or
  running; an enqueue that coalesced into a job already waiting also took an id, and counts here);
- CPU ms per order per process kind (user + system, from /proc): the worker processes together; the
  PostgreSQL cluster (the postmaster, its live backends and the ones it reaped: the server must run on
  this machine, found through `SHOW data_directory` and its `postmaster.pid`, else `--postgres-pid`);
  beside them, for what the machine spent elsewhere, the sandbox and this process (the ERP and polls);
- load: the busiest worker process and PostgreSQL in % of one core, the machine in % of all its cores;
- Get-order 429s: those the sandbox answered since the workers started (warm-up included), and so
  whether the workers together kept to each account's bound (no 429: it held). The shared pace leaves
  1 to 3 calls a second of slack under the bound (`vtex.client.pace_under`): on a loaded machine, calls
  that reach the sandbox late (a process waiting for a core) can crowd a 1 s window by themselves.
Ratios are against the first configuration (1 account, 1 worker process) and, for 2 and 3 processes,
against 1 process with the same accounts.

Targets (issue 12), on this 2-core machine: one account >= 95 % of its bound (95 orders/s at 6000/min);
4 accounts >= 200 orders/s together (in general: half the accounts' bounds together).

Projection: from the CPU per order measured (by default with the configuration that ran the most
orders/s), the cores needed for `--project-accounts` (20) accounts each at its bound, and the hosts of
`--host-cores` cores (2 and 8) loaded to `--host-load` (70 %), formula printed. The sandbox (VTEX), the
ERP and this process are not part of the projection.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import signal
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
from _common import ACCOUNT, APP_KEY, APP_TOKEN, CLOCK_TICKS, start_pipeline, usage_of
from latency import ERP_SECRET, Receiver, serving

from orderbridge.logsetup import configure_logging
from orderbridge.sandbox.config import SandboxAccount
from orderbridge.sandbox.testing import sandbox_subprocess
from orderbridge.store.procrastinate_schema import libpq_conninfo
from orderbridge.store.testing import create_migrated_database, drop_database

ONE_ACCOUNT_SHARE = 0.95  # one account: 95 % of its bound
SEVERAL_ACCOUNTS_SHARE = 0.5  # several accounts: half their bounds together (200/s for 4 at 100/s)
START_SLACK_S = 10.0  # orders seeded for the time between the first account's start and the last one's


# -- /proc ------------------------------------------------------------------------------------------


def _stat(pid: int) -> list[str]:
    """/proc/PID/stat's fields after the command name: [0] is field 3 (state), [1] the ppid, [11] utime,
    [12] stime, [13] cutime, [14] cstime."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def children_of(ppid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError):  # gone meanwhile
            if int(_stat(int(entry.name))[1]) == ppid:
                children.append(int(entry.name))
    return children


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def postgres_cpu_s(postmaster: int) -> float:
    """The whole cluster's CPU: the postmaster's own, the backends it has reaped (cutime, cstime) and
    its live children (backends, checkpointer, WAL writer, autovacuum…)."""
    fields = _stat(postmaster)
    total = sum(int(f) for f in fields[11:15])
    for pid in children_of(postmaster):
        with contextlib.suppress(OSError, IndexError):  # a backend that ended meanwhile: in cutime next
            child = _stat(pid)
            total += int(child[11]) + int(child[12])
    return total / CLOCK_TICKS


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of every core since boot, from /proc/stat's first line."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    idle = values[3] + values[4]  # idle, iowait
    return (sum(values) - idle) / CLOCK_TICKS, sum(values) / CLOCK_TICKS


def find_postmaster(database_url: str) -> int | None:
    """The PostgreSQL server's postmaster pid, if it runs on this machine and its data directory is
    readable (`SHOW data_directory` needs a superuser or pg_read_all_settings)."""
    try:
        with psycopg.connect(libpq_conninfo(database_url), connect_timeout=10) as conn:
            row = conn.execute("SHOW data_directory").fetchone()
        pid = int((Path(str(row[0])) / "postmaster.pid").read_text().split()[0]) if row else 0
    except (psycopg.Error, OSError, ValueError, IndexError):
        return None
    return pid if pid and Path(f"/proc/{pid}").exists() and "postgres" in cmdline(pid) else None


# -- one configuration ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    name: str
    app_key: str
    app_token: str


def accounts_for(count: int) -> list[Account]:
    """The sandbox's default account (the benches' `benchshop`) and `benchshop-2`… beside it."""
    first = Account(ACCOUNT, APP_KEY, APP_TOKEN)
    more = [Account(f"{ACCOUNT}-{n}", f"{APP_KEY}-{n}", f"{APP_TOKEN}-{n}") for n in range(2, count + 1)]
    return [first, *more]


def write_config(
    workdir: Path,
    database_url: str,
    vtex_url: str,
    erp_url: str,
    accounts: list[Account],
    args: argparse.Namespace,
) -> Path:
    """Only what this setup needs (the database, the accounts, the webhook ERP); every tuning key is the
    service's default unless a flag asks otherwise. Short shutdown grace: teardown only."""
    tuning = f"workers = {args.jobs_per_worker}\n" if args.jobs_per_worker is not None else ""
    sections = "".join(
        f"""
[[accounts]]
name = "{a.name}"
base_url = "{vtex_url}/{a.name}"
app_key = "{a.app_key}"
app_token = "{a.app_token}"
"""
        for a in accounts
    )
    path = workdir / "orderbridge.toml"
    path.write_text(
        f"""database_url = "{database_url}"
{tuning}reconcile_interval_s = 3600
log_level = "warning"

[jobs]
shutdown_grace_s = 1.0
{sections}
[erp]
adapter = "webhook"

[erp.webhook]
url = "{erp_url}"

[api]
enabled = false
"""
    )
    return path


@dataclass
class Snapshot:
    at: float
    started: list[int]
    get_order_429: int
    worker_cpu_s: list[float]
    postgres_cpu_s: float | None
    sandbox_cpu_s: float | None
    bench_cpu_s: float
    machine_busy_s: float
    machine_total_s: float
    jobs_finished: int  # jobs ever enqueued minus those still waiting or running
    jobs_queued: int  # waiting or running


@dataclass
class Result:
    accounts: int
    processes: int
    bound_per_account: float
    seconds: float
    orders: int
    orders_per_account: list[int]
    jobs: int
    worker_cpu_s: list[float]
    postgres_cpu_s: float | None
    sandbox_cpu_s: float | None
    bench_cpu_s: float
    machine_busy: float  # share of all cores
    get_order_429: int
    erp_repeats: int
    ran_out: bool
    jobs_queued_at_end: int
    arrival_per_account: float | None  # orders created per second per account, None: all seeded
    notes: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.orders / self.seconds

    @property
    def jobs_rate(self) -> float:
        return self.jobs / self.seconds

    @property
    def target(self) -> float:
        share = ONE_ACCOUNT_SHARE if self.accounts == 1 else SEVERAL_ACCOUNTS_SHARE
        return share * self.accounts * self.bound_per_account

    def per_order_ms(self, cpu_s: float | None) -> float:
        return math.nan if cpu_s is None or not self.orders else 1000 * cpu_s / self.orders

    @property
    def worker_ms(self) -> float:
        return self.per_order_ms(sum(self.worker_cpu_s))

    @property
    def postgres_ms(self) -> float:
        return self.per_order_ms(self.postgres_cpu_s)


class Sandbox:
    def __init__(self, http: aiohttp.ClientSession, base_url: str, accounts: list[Account]) -> None:
        self.http, self.base_url, self.accounts = http, base_url, accounts

    async def set_conditions(self, args: argparse.Namespace) -> None:
        """Every account: latency on every call, its own Get-order quota over 1 s windows."""
        body = {
            "latency_ms": args.latency_ms,
            "endpoints": {
                "get_order": {"rate_limit_per_minute": args.get_order_per_minute, "rate_limit_window_s": 1}
            },
        }
        async with self.http.put(f"{self.base_url}/_sandbox/faults", json=body) as answer:
            answer.raise_for_status()

    async def create_steadily(self, per_s: float) -> None:
        """`per_s` ready-for-handling orders a second in each account, in batches every 0.1 s, until
        cancelled (a batch late by a slow answer is made up by the next)."""
        loop = asyncio.get_running_loop()
        began, created = loop.time(), 0
        while True:
            due = int((loop.time() - began) * per_s) - created
            if due > 0:
                for account in self.accounts:
                    url, params = f"{self.base_url}/_sandbox/orders", {"account": account.name}
                    async with self.http.post(url, params=params, json={"count": due}) as answer:
                        answer.raise_for_status()
                created += due
            await asyncio.sleep(0.1)

    async def stats(self) -> list[dict[str, Any]]:
        return [await self._stats(a.name) for a in self.accounts]

    async def _stats(self, name: str) -> dict[str, Any]:
        async with self.http.get(f"{self.base_url}/_sandbox/stats", params={"account": name}) as answer:
            answer.raise_for_status()
            stats: dict[str, Any] = await answer.json()
            return stats


def started(stats: dict[str, Any]) -> int:
    return sum(1 for n in stats["start_handling"].values() if n > 0)


def jobs_counts(database_url: str) -> tuple[int, int]:
    """(finished, waiting or running). Succeeded jobs are deleted at once: finished = ever enqueued (the
    id sequence) - still there and waiting or running (failed ones stay, finished too). Only ids up to
    the sequence's value read first: jobs enqueued between the two reads count in neither."""
    with psycopg.connect(libpq_conninfo(database_url)) as conn:
        row = conn.execute("SELECT last_value, is_called FROM procrastinate_jobs_id_seq").fetchone()
        last = int(row[0]) if row and row[1] else 0
        waiting = conn.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing') AND id <= %s", (last,)
        ).fetchone()
    queued = int(waiting[0]) if waiting else 0
    return last - queued, queued


@dataclass
class Cluster:
    database_url: str
    processes: list[subprocess.Popen[bytes]]
    logs: list[Path]
    sandbox: Sandbox
    sandbox_pid: int | None
    postmaster: int | None

    def check_alive(self) -> None:
        for process, log in zip(self.processes, self.logs, strict=True):
            if process.poll() is not None:
                tail = log.read_text(errors="replace")[-2000:]
                raise SystemExit(f"worker {process.pid} exited with {process.returncode}; {log}:\n{tail}")

    async def snapshot(self) -> Snapshot:
        at = time.perf_counter()
        stats = await self.sandbox.stats()
        jobs, queued = await asyncio.to_thread(jobs_counts, self.database_url)
        busy, total = machine_cpu()
        return Snapshot(
            at=at,
            started=[started(s) for s in stats],
            get_order_429=sum(int(s["calls"].get("get_order", {}).get("429", 0)) for s in stats),
            worker_cpu_s=[usage_of(p.pid).cpu_s for p in self.processes],
            postgres_cpu_s=postgres_cpu_s(self.postmaster) if self.postmaster else None,
            sandbox_cpu_s=usage_of(self.sandbox_pid).cpu_s if self.sandbox_pid else None,
            bench_cpu_s=usage_of(os.getpid()).cpu_s,
            machine_busy_s=busy,
            machine_total_s=total,
            jobs_finished=jobs,
            jobs_queued=queued,
        )


def seeded_per_account(args: argparse.Namespace) -> int:
    """Orders created during the run (`--arrival-factor`): a second's worth to start with. With
    `--seed-all`, enough that no account runs out before the end, even at its bound."""
    if args.arrival_factor:
        return max(1, int(args.get_order_per_minute) // 60)
    seconds = float(args.warmup_s + args.seconds) + START_SLACK_S
    per_s = float(args.get_order_per_minute) / 60
    return math.ceil(1.2 * per_s * seconds)


def stop_all(processes: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM to every worker at once, then wait for each (SIGKILL after 30 s)."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


async def measure(
    accounts_count: int, processes: int, args: argparse.Namespace, workdir: Path, postmaster: int | None
) -> Result:
    workdir = workdir / f"accounts{accounts_count}-workers{processes}"
    workdir.mkdir(parents=True, exist_ok=False)
    accounts = accounts_for(accounts_count)
    seeded = seeded_per_account(args)
    database = await asyncio.to_thread(create_migrated_database, args.database_url)
    try:
        with sandbox_subprocess(
            seeded,
            account_name=accounts[0].name,
            app_key=accounts[0].app_key,
            app_token=accounts[0].app_token,
            more_accounts=[SandboxAccount(a.name, a.app_key, a.app_token) for a in accounts[1:]],
            latency_ms=args.latency_ms,
            startup_timeout_s=300.0,
        ) as vtex_url:
            sandbox_pid = next((p for p in children_of(os.getpid()) if " sandbox " in cmdline(p)), None)
            receiver = Receiver()
            async with aiohttp.ClientSession() as http, serving(receiver) as erp_url:
                sandbox = Sandbox(http, vtex_url, accounts)
                await sandbox.set_conditions(args)
                config = write_config(workdir, database, vtex_url, erp_url, accounts, args)
                logs = [workdir / f"worker-{n}.log" for n in range(1, processes + 1)]
                env = {"ORDERBRIDGE_ERP_WEBHOOK_SECRET": ERP_SECRET, "ORDERBRIDGE_LOG_LEVEL": "warning"}
                workers = [start_pipeline(config, log, env, role="worker") for log in logs]
                cluster = Cluster(database, workers, logs, sandbox, sandbox_pid, postmaster)
                creating: asyncio.Task[None] | None = None
                try:
                    await every_account_started(cluster, args.start_timeout_s)
                    if args.arrival_factor:
                        per_s = args.arrival_factor * args.get_order_per_minute / 60
                        creating = asyncio.create_task(sandbox.create_steadily(per_s))
                    await asyncio.sleep(args.warmup_s)
                    before = await cluster.snapshot()
                    await asyncio.sleep(args.seconds)
                    after = await cluster.snapshot()
                    cluster.check_alive()
                    if creating is not None and creating.done():
                        creating.result()  # the creation failed: say why
                finally:
                    if creating is not None:
                        creating.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await creating
                    await asyncio.to_thread(stop_all, workers)
    finally:
        await asyncio.to_thread(drop_database, database)
    return result_of(accounts_count, processes, before, after, seeded, receiver, args)


async def every_account_started(cluster: Cluster, timeout_s: float) -> None:
    """The workers are up and every account's orders flow (its pollers run somewhere)."""
    deadline = time.monotonic() + timeout_s
    while True:
        cluster.check_alive()
        if all(started(s) > 0 for s in await cluster.sandbox.stats()):
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"timeout: not every account had an order started within {timeout_s:g} s")
        await asyncio.sleep(0.2)


def result_of(
    accounts: int,
    processes: int,
    before: Snapshot,
    after: Snapshot,
    seeded: int,
    receiver: Receiver,
    args: argparse.Namespace,
) -> Result:
    per_account = [b - a for a, b in zip(before.started, after.started, strict=True)]
    arrival = args.arrival_factor * args.get_order_per_minute / 60 if args.arrival_factor else None
    ran_out = arrival is None and any(n >= seeded for n in after.started)
    notes = ["ran out of ready orders: the rate is a lower bound"] if ran_out else []
    seconds = after.at - before.at
    if arrival is not None and sum(per_account) >= 0.98 * arrival * accounts * seconds:
        notes.append("kept up with the orders created: the rate is the arrival rate")

    def delta(x: float | None, y: float | None) -> float | None:
        return None if x is None or y is None else y - x

    machine_total = after.machine_total_s - before.machine_total_s
    return Result(
        accounts=accounts,
        processes=processes,
        bound_per_account=args.get_order_per_minute / 60,
        seconds=seconds,
        orders=sum(per_account),
        orders_per_account=per_account,
        jobs=after.jobs_finished - before.jobs_finished,
        worker_cpu_s=[b - a for a, b in zip(before.worker_cpu_s, after.worker_cpu_s, strict=True)],
        postgres_cpu_s=delta(before.postgres_cpu_s, after.postgres_cpu_s),
        sandbox_cpu_s=delta(before.sandbox_cpu_s, after.sandbox_cpu_s),
        bench_cpu_s=after.bench_cpu_s - before.bench_cpu_s,
        machine_busy=(after.machine_busy_s - before.machine_busy_s) / machine_total
        if machine_total
        else math.nan,
        get_order_429=after.get_order_429,
        erp_repeats=receiver.repeats,
        ran_out=ran_out,
        jobs_queued_at_end=after.jobs_queued,
        arrival_per_account=arrival,
        notes=notes,
    )


# -- report -----------------------------------------------------------------------------------------


def ratio(value: float, base: float | None) -> str:
    return f"{value / base:6.2f}" if base else "     -"


def ms(value: float) -> str:
    return "    n/a" if math.isnan(value) else f"{value:7.2f}"


def percent_of_core(cpu_s: float | None, seconds: float) -> str:
    return "       n/a" if cpu_s is None else f"{100 * cpu_s / seconds:10.0f}"


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def conditions(args: argparse.Namespace) -> str:
    jobs = f"{args.jobs_per_worker} jobs at once per worker" if args.jobs_per_worker else "default settings"
    orders = (
        f"orders created at {args.arrival_factor:g} x the bound"
        if args.arrival_factor
        else "every order waiting in the feed from the start"
    )
    return (
        f"conditions: {args.latency_ms} ms latency on every VTEX call, Get order"
        f" {args.get_order_per_minute}/min per account (1 s windows), webhook ERP answering at once,"
        f" feed intake, {orders}, {jobs}; {args.seconds:g} s measured per configuration after"
        f" {args.warmup_s:g} s of warm-up; {os.cpu_count()} cores"
    )


def throughput_table(results: list[Result]) -> list[str]:
    base = results[0]
    one_process = {r.accounts: r for r in results if r.processes == 1}
    lines = [
        "accounts workers |  orders/s x base x 1 worker  target         |"
        "  jobs/s x base jobs/order  queued | 429s"
    ]
    for r in results:
        single = one_process.get(r.accounts)
        verdict = f">= {r.target:5.1f} " + ("OK" if r.rate >= r.target else "MISSED")
        per_order = r.jobs / r.orders if r.orders else math.nan
        notes = f"  ({'; '.join(r.notes)})" if r.notes else ""
        lines.append(
            f"{r.accounts:8d} {r.processes:7d} | {r.rate:9.1f} {ratio(r.rate, base.rate)}"
            f"   {ratio(r.rate, single.rate if single else None)}   {verdict:<15} |"
            f" {r.jobs_rate:7.1f} {ratio(r.jobs_rate, base.jobs_rate)} {per_order:10.2f}"
            f" {r.jobs_queued_at_end:7d} |"
            f" {r.get_order_429}{notes}"
        )
    return lines


def cpu_table(results: list[Result]) -> list[str]:
    lines = [
        "                 | CPU ms per order                        | load, % of one core       | machine",
        "accounts workers |  worker  PostgreSQL | sandbox  bench+ERP | busiest worker PostgreSQL | % of all",
    ]
    for r in results:
        lines.append(
            f"{r.accounts:8d} {r.processes:7d} | {ms(r.worker_ms)}     {ms(r.postgres_ms)} |"
            f" {ms(r.per_order_ms(r.sandbox_cpu_s))}   {ms(r.per_order_ms(r.bench_cpu_s))} |"
            f" {100 * max(r.worker_cpu_s) / r.seconds:14.0f} {percent_of_core(r.postgres_cpu_s, r.seconds)}"
            f" | {100 * r.machine_busy:8.0f}"
        )
    return lines


def quota_lines(results: list[Result]) -> list[str]:
    """Per configuration, whether the workers together kept to each account's Get-order quota: the
    sandbox answers 429 to a Get order beyond it (its only 429s in this bench), so none = it held."""
    lines = []
    for r in results:
        verdict = (
            "per-account bound held"
            if r.get_order_429 == 0
            else "per-account bound NOT held (the sandbox saw more than"
            f" {r.bound_per_account:g} Get orders for an account within a second)"
        )
        lines.append(
            f"Get-order quota, {plural(r.accounts, 'account')} x {plural(r.processes, 'worker')}:"
            f" {r.get_order_429} Get-order 429s since the workers started (warm-up included) -> {verdict}"
        )
    return lines


def report(results: list[Result], args: argparse.Namespace, postmaster: int | None) -> None:
    lines = [conditions(args), "", *throughput_table(results), "", *quota_lines(results)]
    lines += ["", *cpu_table(results)]
    if postmaster is None:
        lines.append(
            "PostgreSQL CPU: not measured (the server is not on this machine, or its data directory"
            " is unreadable: see --postgres-pid)"
        )
    lines += ["", *targets(results), "", *projection(results, args)]
    print("\n".join(lines))


def targets(results: list[Result]) -> list[str]:
    lines = []
    for accounts in sorted({r.accounts for r in results}):
        rows = [r for r in results if r.accounts == accounts]
        met = [r for r in rows if r.rate >= r.target]
        best = max(rows, key=lambda r: r.rate)
        lines.append(
            f"target, {plural(accounts, 'account')}: >= {rows[0].target:.0f} orders/s -> met by"
            f" {len(met)} of {len(rows)} configurations (best {best.rate:.1f} orders/s with"
            f" {plural(best.processes, 'worker')})"
        )
    return lines


def projection_source(results: list[Result]) -> Result | None:
    measured = [r for r in results if r.orders and r.postgres_cpu_s is not None]
    return max(measured, key=lambda r: r.rate) if measured else None


def projection(results: list[Result], args: argparse.Namespace) -> list[str]:
    """Cores = orders/s needed x CPU ms per order / 1000, per process kind; hosts from the cores."""
    source = projection_source(results)
    if source is None:
        return ["projection: none (PostgreSQL's CPU was not measured)"]
    bound = args.get_order_per_minute / 60
    needed = args.project_accounts * bound
    worker_ms, postgres_ms = source.worker_ms, source.postgres_ms
    worker_cores, postgres_cores = needed * worker_ms / 1000, needed * postgres_ms / 1000
    total, load = worker_cores + postgres_cores, args.host_load
    hosts = "; ".join(f"N={n}: {math.ceil(total / (n * load))} hosts" for n in args.host_core_list)
    lines = [
        f"projection: {args.project_accounts} accounts x {bound:g} orders/s (each at its bound) ="
        f" {needed:g} orders/s, from the CPU per order with {plural(source.accounts, 'account')} and"
        f" {plural(source.processes, 'worker')} (the most orders/s):",
        f"  worker cores     = {needed:g} orders/s x {worker_ms:.2f} ms / 1000 = {worker_cores:.1f}",
        f"  PostgreSQL cores = {needed:g} orders/s x {postgres_ms:.2f} ms / 1000 = {postgres_cores:.1f}",
        f"  hosts of N cores, each loaded to {100 * load:.0f} %:"
        f" ceil(({worker_cores:.1f} + {postgres_cores:.1f}) / (N x {load:g})) -> {hosts}",
        f"  PostgreSQL is one server: alone it needs ceil({postgres_cores:.1f} / {load:g}) ="
        f" {math.ceil(postgres_cores / load)} cores (its own host, or that much of one workers' host)",
    ]
    spread = [needed * (r.worker_ms + r.postgres_ms) / 1000 for r in results if r.postgres_cpu_s]
    if len(spread) > 1:
        lines.append(
            f"  with each configuration's CPU per order instead: {min(spread):.1f}-{max(spread):.1f} cores"
        )
    lines.append("  not counted: VTEX (the sandbox), the ERP, `serve` processes for hooks and the API")
    return lines


def write_json(results: list[Result], args: argparse.Namespace, path: Path) -> None:
    rows = [
        {
            **asdict(r),
            "orders_per_s": r.rate,
            "jobs_per_s": r.jobs_rate,
            "worker_cpu_ms_per_order": r.worker_ms,
            "postgres_cpu_ms_per_order": r.postgres_ms,
            "target_orders_per_s": r.target,
            "get_order_bound_held": r.get_order_429 == 0,
        }
        for r in results
    ]
    conditions = {
        "latency_ms": args.latency_ms,
        "get_order_per_minute": args.get_order_per_minute,
        "seconds": args.seconds,
        "warmup_s": args.warmup_s,
        "jobs_per_worker": args.jobs_per_worker,
        "arrival_factor": args.arrival_factor,
        "cores": os.cpu_count(),
    }
    text = json.dumps({"conditions": conditions, "results": rows}, indent=2, default=str)
    path.write_text(text.replace("NaN", "null") + "\n")


# -- main -------------------------------------------------------------------------------------------


def int_list(text: str) -> list[int]:
    values = [int(v) for v in text.split(",") if v.strip()]
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError("positive integers, comma-separated")
    return values


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--accounts", type=int_list, default=[1, 4], help="account counts (default 1,4)")
    parser.add_argument(
        "--worker-processes", type=int_list, default=[1, 2, 3], help="worker process counts (default 1,2,3)"
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="measured per configuration")
    parser.add_argument("--warmup-s", type=float, default=5.0, help="after every account's first start")
    parser.add_argument(
        "--quick", action="store_true", help="1,4 accounts x 1,2 workers, 5 s each after 2 s: check it works"
    )
    parser.add_argument("--latency-ms", type=int, default=50, help="latency of every VTEX call")
    parser.add_argument("--get-order-per-minute", type=int, default=6000, help="per account")
    parser.add_argument(
        "--arrival-factor",
        type=float,
        default=1.1,
        help="orders created during the run in each account, as a multiple of its bound (default 1.1)",
    )
    parser.add_argument(
        "--seed-all",
        action="store_true",
        help="every order in the feed before the workers start instead: a deep queue, and its intake"
        " counted in the CPU of the orders started",
    )
    parser.add_argument(
        "--jobs-per-worker", type=int, help="`workers` of each process (default: the service's)"
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("ORDERBRIDGE_BENCH_PG_URL") or os.environ.get("ORDERBRIDGE_TEST_PG_URL"),
        help="a postgresql+psycopg:// URL on the server to use (a fresh database beside it for each run)",
    )
    parser.add_argument("--postgres-pid", type=int, help="the postmaster's pid, if not found by itself")
    parser.add_argument(
        "--start-timeout-s", type=float, default=120.0, help="for every account's first start"
    )
    parser.add_argument("--project-accounts", type=int, default=20)
    parser.add_argument("--host-cores", default="2,8", help="host sizes for the projection (cores)")
    parser.add_argument("--host-load", type=float, default=0.7, help="share of a host's cores to plan for")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--workdir", type=Path, help="keep each configuration's config and worker logs here")
    args = parser.parse_args()
    if args.quick:
        args.accounts, args.worker_processes, args.seconds, args.warmup_s = [1, 4], [1, 2], 5.0, 2.0
    if not args.database_url or not args.database_url.startswith("postgresql"):
        parser.error("--database-url: a postgresql+psycopg:// URL (or ORDERBRIDGE_BENCH_PG_URL / . .pg/env)")
    args.host_core_list = int_list(args.host_cores)
    if args.arrival_factor <= 0:
        parser.error("--arrival-factor: a positive multiple of the bound")
    if args.seed_all:
        args.arrival_factor = None
    if not 0 < args.host_load <= 1:
        parser.error("--host-load: a share of the cores, 0 < x <= 1")
    return args


async def run(args: argparse.Namespace, workdir: Path, postmaster: int | None) -> list[Result]:
    results = []
    for accounts in args.accounts:
        for processes in args.worker_processes:
            result = await measure(accounts, processes, args, workdir, postmaster)
            print(
                f"  {accounts} account(s), {processes} worker(s): {result.rate:.1f} orders/s,"
                f" {result.jobs_rate:.1f} jobs/s",
                flush=True,
            )
            results.append(result)
    return results


def main() -> None:
    args = parse_args()
    configure_logging("WARNING")  # the migrations' log lines would interleave with the figures
    postmaster = args.postgres_pid or find_postmaster(args.database_url)
    with contextlib.ExitStack() as stack:
        workdir = args.workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="scale-")))
        workdir.mkdir(parents=True, exist_ok=True)
        results = asyncio.run(run(args, workdir, postmaster))
    report(results, args, postmaster)
    if args.json:
        write_json(results, args, args.json)


if __name__ == "__main__":
    main()
