"""The short form of the chaos run on a cluster (issue 12, "Proofs: chaos on the cluster"): PostgreSQL,
one `orderbridge serve` (VTEX's hook) and two `orderbridge worker` (jobs, feed pollers, the warehouse's
way back), the flaky VTEX, orders through their whole life, a worker drawn at random SIGKILLed every few
seconds and restarted, and PostgreSQL itself restarted once midway — then the invariant checker: not
one order stranded or doubled, the feed drained. The long run (≥ 2,000 orders, 3 workers, ≥ 20 kills)
is `orderbridge chaos --workers 3 --restart-database …` (docs/chaos.md)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from orderbridge.chaos import ChaosOptions, run_chaos
from orderbridge.store.testing import create_migrated_database, drop_database

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

CLUSTER = ChaosOptions(
    orders=80,
    kills=4,
    kill_every_s=4.0,
    rate=8.0,
    timeout_s=110.0,
    stall_s=30.0,
    reject_ratio=0.06,
    out_of_stock_ratio=0.5,
    workers=2,
    serve=1,
    restart_database=True,
)


@pytest.fixture
def empty_database(postgres_server_url: str) -> Iterator[str]:
    url = create_migrated_database(postgres_server_url)
    try:
        yield url
    finally:
        drop_database(url)


def test_a_cluster_with_workers_killed_and_postgres_restarted_strands_and_doubles_nothing(
    empty_database: str, tmp_path: Path
) -> None:
    options = replace(CLUSTER, database_url=empty_database)

    result = asyncio.run(run_chaos(options, workdir=tmp_path))

    body = result.to_json()
    cluster = body["cluster"]
    assert cluster["processes"] == {"serve": 1, "worker": 2}
    assert result.kills == options.kills, "every planned SIGKILL of a worker happened mid-run"
    assert sum(cluster["kills_by_process"].values()) == options.kills
    assert set(cluster["kills_by_process"]) == {"serve-1", "worker-1", "worker-2"}
    assert cluster["kills_by_process"]["serve-1"] == 0, "only workers are killed"
    assert cluster["database_restarts"] == 1, "PostgreSQL was restarted once"
    assert result.faults["429"] > 0 and result.faults["5xx"] > 0, "VTEX was flaky"
    assert result.ok, json.dumps({k: body[k] for k in ("stranded", "doubled", "waiting", "ended", "report")})
    print(f"cluster chaos: {body['orders']} orders in {body['elapsed_s']} s, {json.dumps(cluster)}")
