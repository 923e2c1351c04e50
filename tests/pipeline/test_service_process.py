"""`orderbridge run --config FILE` as a real process against a sandbox over real HTTP: it handles orders
to the end, stops cleanly on SIGTERM, and `orderbridge status` / `orders` read what it did."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx2
from click.testing import Result
from typer.testing import CliRunner

from orderbridge.cli import app
from orderbridge.erp.warehouse import read_summary
from orderbridge.sandbox.testing import SandboxServer

from .conftest import ACCOUNT, APP_KEY, APP_TOKEN, sandbox_config

CONFIG = """
database_url = "sqlite:///{db}"
workers = 8
reconcile_interval_s = 3600

[[accounts]]
name = "{account}"
base_url = "{base_url}"
pollers = 2

[erp]
adapter = "warehouse"

[erp.warehouse]
database = "{warehouse}"
self_cancel_ratio = 0.0
out_of_stock_ratio = 0.0
partial_invoice_ratio = 0.0
first_step_delay_s = 0.0
step_delay_s = 0.0
retry_delay_s = 0.05
tracking_events = 1
idle_poll_s = 0.05

[api]
port = 0
"""


def orderbridge(*args: str) -> Result:
    """The operator commands in-process (the service itself ran as a real process above)."""
    return CliRunner().invoke(app, list(args))


def wait_until(check: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def completed(database: Path) -> int:
    """Read the service's own database from outside, as an operator's tool would."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        try:
            row = conn.execute("SELECT count(*) FROM orders WHERE pipeline_state = 'completed'").fetchone()
        except sqlite3.OperationalError:
            return 0  # not migrated yet
    return int(row[0])


def test_the_service_runs_from_a_config_file_and_stops_on_sigterm(tmp_path: Path) -> None:
    with SandboxServer(sandbox_config()) as sandbox, httpx2.Client(base_url=sandbox.base_url) as admin:
        config = tmp_path / "orderbridge.toml"
        warehouse = tmp_path / "warehouse.db"
        config.write_text(
            CONFIG.format(
                db=tmp_path / "ob.db", account=ACCOUNT, base_url=sandbox.base_url, warehouse=warehouse
            )
        )
        env = {**os.environ, "VTEX_APP_KEY": APP_KEY, "VTEX_APP_TOKEN": APP_TOKEN}
        log = (tmp_path / "service.log").open("w")
        service = subprocess.Popen(
            [sys.executable, "-m", "orderbridge.cli", "run", "--config", str(config)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            stats = lambda: admin.get("/_sandbox/stats").json()  # noqa: E731
            wait_until(lambda: "200" in stats()["calls"].get("feed_config", {}), 30, "the feed configured")
            order_ids = admin.post("/_sandbox/orders", json={"count": 5}).json()["orderIds"]

            def delivered() -> bool:
                return warehouse.exists() and read_summary(warehouse).states.get("delivered") == 5

            wait_until(delivered, 30, "every order delivered")
            wait_until(lambda: completed(tmp_path / "ob.db") == 5, 30, "every order completed")
            service.send_signal(signal.SIGTERM)
            assert service.wait(timeout=20) == 0
        finally:
            if service.poll() is None:
                service.kill()
            log.close()

        final = stats()
        assert final["start_handling"] == {oid: 1 for oid in order_ids}
        assert final["orders_by_status"] == {"invoiced": 5}
        assert read_summary(warehouse).total == 5

    status = orderbridge("status", "--json", "--config", str(config))
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)["accounts"][ACCOUNT]["orders"] == {"completed": 5}
    shown = orderbridge("orders", "show", order_ids[0], "--json", "--config", str(config))
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["order"]["pipeline_state"] == "completed"
    listed = orderbridge("orders", "list", "--json", "--config", str(config))
    assert {row["order_id"] for row in json.loads(listed.stdout)} == set(order_ids)
    assert orderbridge("orders", "retry", "nope-01", "--config", str(config)).exit_code == 1
