"""The shell of `orderbridge demo`: options in, live table or JSON out, exit status from the verdict."""

from __future__ import annotations

import asyncio
import json
import sys

from rich.console import Console
from rich.live import Live

from orderbridge.demo.observe import LiveCounts
from orderbridge.demo.progress import PlainProgress, live_table, summary_table
from orderbridge.demo.runner import run_demo
from orderbridge.demo.scenario import DemoOptions
from orderbridge.logsetup import configure_logging


def run_command(*, orders: int, json_output: bool, database_url: str | None, timeout_s: float) -> int:
    """Run the demo; 0 only if nothing was lost or doubled (and nothing is left unfinished)."""
    # The table is the demo's output; the pipeline's routine log lines would only bury it.
    configure_logging("WARNING")
    options = DemoOptions(orders=orders, timeout_s=timeout_s, database_url=database_url)
    if json_output:
        summary = asyncio.run(run_demo(options))
        sys.stdout.write(json.dumps(summary.to_json()) + "\n")
    elif not (console := Console()).is_terminal:
        plain = PlainProgress()
        summary = asyncio.run(run_demo(options, on_progress=plain))
        plain.finish()
        console.print(summary_table(summary))
    else:
        with Live(console=console, refresh_per_second=8, transient=False) as live:

            def show(counts: LiveCounts, elapsed_s: float) -> None:
                live.update(live_table(counts, elapsed_s))

            summary = asyncio.run(run_demo(options, on_progress=show))
        console.print()  # the live table's last frame may end without a newline
        console.print(summary_table(summary))
    return 0 if summary.ok and summary.unfinished == 0 else 1
