"""`crashpoint(name)`: harmless unless ORDERBRIDGE_CRASH_AT names it, then SIGKILL at the N-th visit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from orderbridge.pipeline import crashpoints

VISIT_FIVE_TIMES = (
    "from orderbridge.pipeline.crashpoints import crashpoint\n"
    "for i in range(5):\n"
    "    crashpoint('stored')\n"
    "    print(i, flush=True)\n"
)


def visit(spec: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != crashpoints.CRASH_ENV}
    if spec is not None:
        env[crashpoints.CRASH_ENV] = spec
    command = [sys.executable, "-c", VISIT_FIVE_TIMES]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=30, check=False)


def test_the_process_kills_itself_with_sigkill_at_the_nth_visit_of_its_point() -> None:
    result = visit("stored:3")

    assert result.returncode == -signal.SIGKILL
    assert result.stdout.split() == ["0", "1"]


def test_another_point_or_no_point_never_crashes() -> None:
    assert visit("committed:1").stdout.split() == ["0", "1", "2", "3", "4"]
    assert visit(None).returncode == 0


@pytest.fixture
def rearm() -> Iterator[None]:
    yield
    crashpoints.arm(os.environ.get(crashpoints.CRASH_ENV))


@pytest.mark.parametrize("spec", ["", "stored", "stored:", "stored:zero", "stored:0", ":2"])
def test_a_malformed_target_is_ignored_rather_than_crashing_by_accident(spec: str, rearm: None) -> None:
    crashpoints.arm(spec)

    for _ in range(3):
        crashpoints.crashpoint("stored")  # still alive
