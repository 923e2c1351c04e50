"""VTEX's per-account Get-order quota held by a cluster (issue 12): three real `orderbridge worker`
processes on one PostgreSQL database and one account, each configured with the account's quota, against a
sandbox process that enforces that quota and answers 429 beyond it. The orders waiting are more than the
quota lets through in the sandbox's window, so three processes each pacing itself alone would send three
times the quota and be refused; pacing from the one shared GCRA row (`store.rate_limits`), they are not.

The sandbox counts the quota over a sliding 10 s window (`rate_limit_window_s`), at most 60 calls in
any 10 s for 360 a minute. The workers' shared pace is `pace_under(360)`: 5 calls a second, one at a
time (no burst), so at most 51 slots fall in any 10 s of PostgreSQL's clock. A call that reaches the
sandbox late (a worker descheduled on a loaded machine) can crowd a window only by arriving more than
(60 - 50) / 5 = 2 s after its slot: the test allows no 429 at all. Alone, each process would pace itself
at 5 a second, 15 together: the 100 orders' calls within about 7 s, some 40 of them beyond the 60.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import httpx2
import psycopg
import pytest

from orderbridge.sandbox.testing import sandbox_subprocess
from orderbridge.store.procrastinate_schema import libpq_conninfo

from .conftest import ACCOUNT, APP_KEY, APP_TOKEN
from .service_processes import CONFIG, start, stop, wait_started
from .test_cluster_singletons import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


ORDERS = 100
WORKERS = 3
GET_ORDER_PER_MINUTE = 360
WINDOW_S = 10.0
ALLOWED_PER_WINDOW = round(GET_ORDER_PER_MINUTE * WINDOW_S / 60)


def cluster_config(database_url: str, base_url: str, warehouse: Path) -> str:
    """The process tests' configuration, with the account's low Get-order quota and a warehouse that
    only accepts (no invoices or changes: the run's VTEX calls are the intake's)."""
    text = CONFIG.format(database_url=database_url, base_url=base_url, warehouse=warehouse)
    text = text.replace("pollers = 1", f"pollers = 1\nget_order_per_minute = {GET_ORDER_PER_MINUTE}")
    text = text.replace("workers = 2", "workers = 16")  # jobs at once per process: pacing, not slots, limits
    return text.replace("idle_poll_s = 0.05", "idle_poll_s = 0.05\nfulfil = false")


def handed_over(database_url: str) -> int:
    with psycopg.connect(libpq_conninfo(database_url)) as conn:
        row = conn.execute("SELECT count(*) FROM orders WHERE handed_over_at IS NOT NULL").fetchone()
    return int(row[0]) if row else 0


def handed_over_by(log: Path) -> int:
    """Orders the process whose log this is handed over to the ERP (its `order_step` lines)."""
    lines = log.read_text(errors="replace").splitlines()
    return sum('"step": "hand_over"' in line and '"outcome": "accepted"' in line for line in lines)


def get_order_times(database_url: str) -> list[float]:
    """When each Get order attempt of every worker started (the order timelines' `vtex_calls`), sorted."""
    with psycopg.connect(libpq_conninfo(database_url)) as conn:
        rows = conn.execute(
            "SELECT at FROM vtex_calls WHERE method = 'GET' AND path LIKE '/api/oms/pvt/orders/%%'"
            " ORDER BY at"
        ).fetchall()
    times: list[datetime] = [row[0] for row in rows]
    return [t.timestamp() for t in times]


def busiest_window(times: list[float], window_s: float) -> int:
    """The most calls started within any `window_s` (a sliding window, as the sandbox counts)."""
    most, first = 0, 0
    for last, at in enumerate(times):
        while at - times[first] >= window_s:
            first += 1
        most = max(most, last - first + 1)
    return most


def test_three_workers_on_one_account_keep_together_to_its_get_order_quota_and_hand_every_order_over(
    tmp_path: Path, cluster_url: str
) -> None:
    with sandbox_subprocess(ORDERS, account_name=ACCOUNT, app_key=APP_KEY, app_token=APP_TOKEN) as vtex:
        quota = {"rate_limit_per_minute": GET_ORDER_PER_MINUTE, "rate_limit_window_s": WINDOW_S}
        httpx2.put(f"{vtex}/_sandbox/faults", json={"endpoints": {"get_order": quota}}).raise_for_status()
        config = tmp_path / "orderbridge.toml"
        config.write_text(cluster_config(cluster_url, vtex, tmp_path / "wh.db"))
        logs = [tmp_path / f"worker-{n}.log" for n in range(1, WORKERS + 1)]
        workers = [start(config, log, "worker") for log in logs]
        try:
            for process, log in zip(workers, logs, strict=True):
                wait_started(process, log)
            took_s = wait_for(lambda: handed_over(cluster_url) == ORDERS, 90, "every order handed over")
        finally:
            for process in workers:
                stop(process)  # SIGTERM: each writes the VTEX calls it still buffers
        stats: dict[str, Any] = httpx2.get(f"{vtex}/_sandbox/stats").json()

    get_order = stats["calls"]["get_order"]
    times = get_order_times(cluster_url)
    rate = (len(times) - 1) / (times[-1] - times[0])
    by_worker = [handed_over_by(log) for log in logs]
    print(
        f"{WORKERS} workers, {ORDERS} orders in {took_s:.1f} s: Get order {get_order},"
        f" {rate:.2f}/s, at most {busiest_window(times, WINDOW_S)} in {WINDOW_S:g} s;"
        f" handed over by each worker: {by_worker}"
    )
    assert all(p.returncode == 0 for p in workers)
    # The orders were spread: two processes pacing alone would already send 10 a second, over 6.
    assert sum(n > 0 for n in by_worker) >= 2, f"orders handed over by each worker: {by_worker}"
    assert get_order.get("429", 0) == 0, f"VTEX refused Get order calls over its quota: {get_order}"
    assert sum(n > 0 for n in stats["start_handling"].values()) == ORDERS, "every order started at VTEX"
    assert len(times) == sum(get_order.values()), "every Get order the sandbox saw is in vtex_calls"
    assert len(times) >= ORDERS
    assert busiest_window(times, WINDOW_S) <= ALLOWED_PER_WINDOW
    assert rate <= GET_ORDER_PER_MINUTE / 60, "the mean Get-order rate of the run is within the quota"
