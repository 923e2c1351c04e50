"""The pipeline as its own process — `orderbridge run --config FILE`, exactly as an operator starts it —
so the demo's watching (HTTP polls, the live table) never competes with it for the interpreter."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from orderbridge.demo.scenario import pipeline_env

STOP_GRACE_S = 20.0


class PipelineDied(RuntimeError):
    """The pipeline process exited on its own; the message carries the end of its log."""


@contextlib.contextmanager
def pipeline_process(config: Path, log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Start the service; on exit stop it gracefully (SIGTERM: running jobs finish), then for good."""
    process = start_pipeline(config, log_path)
    try:
        yield process
    finally:
        stop(process)


def start_pipeline(
    config: Path, log_path: Path, role: str = "run", env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """`orderbridge run --config FILE` (or `worker`, `serve`) with the demo's credentials and `env`; its
    output appended to `log_path` (a restarted pipeline — `orderbridge chaos` kills and restarts it —
    keeps writing the same log)."""
    command = [sys.executable, "-m", "orderbridge.cli", role, "--config", str(config)]
    with log_path.open("ab") as log:  # the child holds its own copy of the descriptor
        return subprocess.Popen(
            command,
            env={**os.environ, **pipeline_env(), **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def kill(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL: no `finally`, no flush — a power cut or the OOM killer, as the chaos run wants it."""
    if process.poll() is None:
        process.kill()
    process.wait(timeout=10)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def check_alive(process: subprocess.Popen[bytes], log_path: Path) -> None:
    if process.poll() is not None:
        tail = log_path.read_text(errors="replace")[-3000:]
        raise PipelineDied(f"the pipeline exited with {process.returncode}:\n{tail}")
