"""What the benches share: the sandbox account they use, the pipeline as its own process
(`orderbridge run --config`, or another role), and that process's CPU and memory read from /proc."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ACCOUNT = "benchshop"
APP_KEY = "vtexappkey-benchshop"
APP_TOKEN = "benchshop-token"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class ProcessUsage:
    cpu_s: float
    sys_s: float
    peak_rss_mb: float


def usage_of(pid: int) -> ProcessUsage:
    """CPU (user + system) and peak resident set of a live process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu_s = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime (fields 14 and 15)
    peak_kb = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak_kb = int(line.split()[1])
    return ProcessUsage(cpu_s, int(fields[12]) / CLOCK_TICKS, peak_kb / 1024)


def start_pipeline(
    config: Path,
    log: Path,
    env: dict[str, str],
    python_options: Sequence[str] = (),
    role: str = "run",
) -> subprocess.Popen[bytes]:
    """`orderbridge run --config` (or `role`: `worker`, `serve`) as its own process (`python_options`,
    e.g. a profiler, before `-m`), its output into `log`, the VTEX credentials of the bench's account in
    its environment."""
    env = {**os.environ, "VTEX_APP_KEY": APP_KEY, "VTEX_APP_TOKEN": APP_TOKEN, **env}
    command = [sys.executable, *python_options, "-m", "orderbridge.cli", role, "--config", str(config)]
    with log.open("wb") as output:  # the child keeps its own descriptor
        return subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)


def stop_pipeline(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (the service stops cleanly on it), then wait for it to end."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)
