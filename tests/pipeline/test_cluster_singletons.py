"""Several processes on one PostgreSQL database (issue 12): each once-per-cluster loop — the account's
feed pollers, its reconciliation sweep, the ERP's way back (here the simulated warehouse's steps) — runs
in exactly one of them, and when that one is SIGKILLed another takes it over within 10 s."""

from __future__ import annotations

import json
import time
from pathlib import Path

import psycopg
import pytest

from orderbridge.pipeline.singletons import LOCK_NAMESPACE
from orderbridge.sandbox.testing import SandboxServer
from orderbridge.store.procrastinate_schema import libpq_conninfo

from .conftest import ACCOUNT, sandbox_config
from .service_processes import CONFIG, start, stop, wait_started

pytestmark = pytest.mark.postgres

LOOPS = {f"feed:{ACCOUNT}", f"reconcile:{ACCOUNT}", "erp:warehouse"}
FAIL_OVER_BOUND_S = 10.0


def taken(log: Path) -> set[str]:
    """The loops a process's log (JSON lines) says it took."""
    found = set()
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{") and "singletons.took" in line:
            found.add(str(json.loads(line)["loop"]))
    return found


def lock_holders(url: str) -> dict[int, int]:
    """{backend pid: singleton locks it holds} on the database (PostgreSQL's own view of the locks)."""
    with psycopg.connect(libpq_conninfo(url)) as conn:
        rows = conn.execute(
            "SELECT pid, count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND classid = %s AND objsubid = 2"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " GROUP BY pid",
            (LOCK_NAMESPACE,),
        ).fetchall()
    return {int(pid): int(n) for pid, n in rows}


def wait_for(condition: object, timeout_s: float, what: str) -> float:
    began = time.monotonic()
    while not condition():  # type: ignore[operator]
        assert time.monotonic() - began < timeout_s, f"{what}: not within {timeout_s} s"
        time.sleep(0.05)
    return time.monotonic() - began


def test_two_services_run_each_cluster_loop_once_and_the_survivor_takes_over_within_10_s_of_a_sigkill(
    tmp_path: Path, cluster_url: str
) -> None:
    with SandboxServer(sandbox_config()) as sandbox:
        config = tmp_path / "orderbridge.toml"
        config.write_text(
            CONFIG.format(database_url=cluster_url, base_url=sandbox.base_url, warehouse=tmp_path / "wh.db")
        )
        logs = [tmp_path / "first.log", tmp_path / "second.log"]
        processes = [start(config, log) for log in logs]  # at once: they race for every loop
        try:
            for process, log in zip(processes, logs, strict=True):
                wait_started(process, log)
            wait_for(lambda: taken(logs[0]) | taken(logs[1]) == LOOPS, 10, "every loop runs somewhere")
            time.sleep(2.5)  # longer than singleton_retry_s: the other one has tried to take each loop

            assert not taken(logs[0]) & taken(logs[1]), "a loop ran in both processes"
            assert sum(lock_holders(cluster_url).values()) == len(LOOPS)

            victim = 0 if taken(logs[0]) else 1
            survivor, survivor_log = processes[1 - victim], logs[1 - victim]
            processes[victim].kill()  # SIGKILL: PostgreSQL ends its session, which releases its locks
            processes[victim].wait(timeout=10)
            fail_over_s = wait_for(
                lambda: taken(survivor_log) == LOOPS, FAIL_OVER_BOUND_S, "the survivor takes every loop"
            )
            print(f"fail-over after SIGKILL: {fail_over_s:.2f} s")
            assert list(lock_holders(cluster_url).values()) == [len(LOOPS)]
            assert survivor.poll() is None
        finally:
            for process in processes:
                stop(process)
        assert survivor.returncode == 0
