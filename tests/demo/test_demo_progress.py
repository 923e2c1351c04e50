"""`orderbridge demo`'s output when stdout is not a terminal (piped to a file or a CI log)."""

from __future__ import annotations

from typing import Any

import pytest

from orderbridge.demo import command
from orderbridge.demo.observe import LiveCounts
from orderbridge.demo.truth import DemoSummary


async def _fake_demo(options: Any, on_progress: Any = None) -> DemoSummary:
    """Twelve seconds of a demo, one tick a second, without a sandbox or a pipeline."""
    for second in range(13):
        done = 10 * second
        on_progress(LiveCounts(200, done + 20, done + 10, done, done, 0, 0, 0), float(second))
    return DemoSummary(
        created=200, handed_over_distinct=200, handed_over_total=200, started=200, invoiced=200,
        delivered=200, canceled=0, parked=0, lost=0, duplicated=0, feed_depth=0, elapsed_s=12.0,
        orders_per_s=16.7,
    )  # fmt: skip


def test_the_demo_piped_to_a_file_prints_a_progress_line_every_few_seconds(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(command, "run_demo", _fake_demo)

    status = command.run_command(orders=200, json_output=False, database_url=None, timeout_s=60)

    assert status == 0
    out = capsys.readouterr().out
    progress = [line for line in out.splitlines() if line.startswith("demo ")]
    assert [line.split()[1].rstrip(":") for line in progress] == ["0s", "5s", "10s", "12s"], out
    assert "final 50/200" in progress[1] and "delivered 50" in progress[1]
    assert "\x1b[" not in out  # no cursor movement or colour codes in a file
    assert "nothing lost, doubled or stranded" in out
