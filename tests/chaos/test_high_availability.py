"""High availability on PostgreSQL (issue 12, "Proofs: HA"): two `orderbridge run` on one account and
one database; orders created at the (flaky) sandbox; mid-run the process running the once-per-cluster
loops is SIGKILLed and stays dead; the other takes the loops over, runs again the jobs the dead one
had claimed, and finishes everything — the invariant checker finds 0 stranded and 0 doubled."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest

from orderbridge.chaos import ChaosOptions, run_chaos
from orderbridge.demo.processes import check_alive, kill, start_pipeline, stop
from orderbridge.pipeline.singletons import APPLICATION_NAME, LOCK_NAMESPACE
from orderbridge.store.procrastinate_schema import libpq_conninfo
from orderbridge.store.testing import create_migrated_database, drop_database

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

HA = ChaosOptions(
    orders=60,
    kills=1,
    kill_every_s=5.0,
    rate=10.0,
    timeout_s=90.0,
    stall_s=15.0,
    reject_ratio=0.06,
    out_of_stock_ratio=0.5,
)
# Crashed workers noticed in seconds, not the production half-minute, so the run stays short.
FAST_FAIL_OVER = "\n[jobs]\nheartbeat_s = 1.0\nstalled_after_s = 3.0\nsingleton_retry_s = 1.0\n"


@pytest.fixture
def empty_database(postgres_server_url: str) -> Iterator[str]:
    url = create_migrated_database(postgres_server_url)
    try:
        yield url
    finally:
        drop_database(url)


def loops_holder(database_url: str) -> int | None:
    """The OS pid of the process holding the once-per-cluster loops' locks (its lock connection's
    `application_name` carries it), or None while nobody holds them."""
    with psycopg.connect(libpq_conninfo(database_url)) as conn:
        row = conn.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s AND l.objsubid = 2 LIMIT 1",
            (LOCK_NAMESPACE,),
        ).fetchone()
    if row is None or not str(row[0]).startswith(APPLICATION_NAME):
        return None
    return int(str(row[0]).removeprefix(APPLICATION_NAME))


class TwoServices:
    """Two `orderbridge run` on one configuration; the kill SIGKILLs the one running the loops, for
    good: the survivor must finish the run alone."""

    def __init__(self, config: Path, log_path: Path, database_url: str) -> None:
        with config.open("a") as extra:
            extra.write(FAST_FAIL_OVER)
        self.database_url = database_url
        self.logs = [log_path.with_name("first.log"), log_path.with_name("second.log")]
        self.processes = [start_pipeline(config, log) for log in self.logs]
        self.kills = 0
        self.killed: subprocess.Popen[bytes] | None = None
        self.killed_held_the_loops = False

    def kill_and_restart(self) -> None:
        holder = loops_holder(self.database_url)
        victim = next((p for p in self.processes if p.pid == holder), self.processes[0])
        kill(victim)
        self.killed, self.killed_held_the_loops = victim, victim.pid == holder
        self.kills += 1

    def check(self) -> None:
        for process, log in zip(self.processes, self.logs, strict=True):
            if process is not self.killed:
                check_alive(process, log)

    def stop(self) -> None:
        for process in self.processes:
            stop(process)

    def figures(self) -> dict[str, Any]:
        return {"processes": {"run": 2}, "kills_by_process": {"holder of the loops": self.kills}}


def test_two_services_on_one_account_one_killed_mid_run_the_other_finishes_with_nothing_doubled(
    empty_database: str, tmp_path: Path
) -> None:
    options = replace(HA, database_url=empty_database)
    started: list[TwoServices] = []

    def two_services(config: Path, log_path: Path) -> TwoServices:
        started.append(TwoServices(config, log_path, empty_database))
        return started[0]

    result = asyncio.run(run_chaos(options, workdir=tmp_path, supervisor=two_services))

    body = result.to_json()
    assert result.kills == 1 and started[0].killed is not None, "one service was killed mid-run"
    assert started[0].killed_held_the_loops, "the one killed was running the feed pollers and the rest"
    assert all(p.returncode == 0 for p in started[0].processes if p is not started[0].killed)
    assert result.ok, json.dumps({k: body[k] for k in ("stranded", "doubled", "waiting", "ended", "report")})
    assert body["stranded"] == 0 and body["doubled"] == 0
    print(f"HA run: {body['orders']} orders in {body['elapsed_s']} s, ended {body['ended']}")
