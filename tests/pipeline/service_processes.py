"""`orderbridge run` (or `worker`, `serve`) as subprocesses, as an operator starts them, for tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .conftest import ACCOUNT, APP_KEY, APP_TOKEN

#: One account with one poller, the simulated warehouse, no API; `database_url`, `base_url` and
#: `warehouse` to fill in.
CONFIG_TEMPLATE = """
database_url = "{database_url}"
workers = 2
reconcile_interval_s = 3600

[[accounts]]
name = "{account}"
base_url = "{base_url}"
pollers = 1

[erp]
adapter = "warehouse"

[erp.warehouse]
database = "{warehouse}"
idle_poll_s = 0.05

[api]
enabled = false
"""


CONFIG = CONFIG_TEMPLATE.replace("{account}", ACCOUNT)


def start(config: Path, log: Path, role: str = "run") -> subprocess.Popen[bytes]:
    env = {**os.environ, "VTEX_APP_KEY": APP_KEY, "VTEX_APP_TOKEN": APP_TOKEN}
    env["ORDERBRIDGE_LOG_LEVEL"] = "info"
    command = [sys.executable, "-m", "orderbridge.cli", role, "--config", str(config)]
    with log.open("wb") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


def wait_started(process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90  # a deadline for a loaded machine, not a measure
    while "service_started" not in log.read_text(errors="replace"):
        assert process.poll() is None, f"the service exited: {log.read_text(errors='replace')[-2000:]}"
        assert time.monotonic() < deadline, "the service did not start within 90 s"
        time.sleep(0.05)


def stop(process: subprocess.Popen[bytes], signum: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(signum)
        process.wait(timeout=20)
