"""The shell of `orderbridge chaos`: options in, a progress bar and the final table (or `--json`) out,
exit status 0 only if every invariant held and the run settled."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from orderbridge.audit.check import KINDS
from orderbridge.chaos.database import CannotRestartDatabase, database_restart
from orderbridge.chaos.runner import ChaosProgress, ChaosResult, run_chaos
from orderbridge.chaos.scenario import ChaosOptions
from orderbridge.logsetup import configure_logging

SHOWN_IDS = 8


REFUSED_EXIT = 2


def run_command(options: ChaosOptions, *, json_output: bool, workdir: Path | None) -> int:
    configure_logging("WARNING")  # the pipeline logs to its own file; ours would only bury the table
    try:  # what run_chaos checks too, said here in one line rather than a traceback
        options.check()
        if options.restart_database:
            database_restart(options.database_url, options.database_restart_cmd)
    except (ValueError, CannotRestartDatabase) as refused:
        sys.stderr.write(f"orderbridge chaos: {refused}\n")
        return REFUSED_EXIT
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
    if json_output:
        result = asyncio.run(run_chaos(options, workdir=workdir))
        sys.stdout.write(json.dumps(result.to_json()) + "\n")
        return 0 if result.ok else 1
    console = Console()
    columns = (
        TextColumn("[bold]settled"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("orders", total=options.orders, detail="")

        def show(progress: ChaosProgress) -> None:
            detail = (
                f"kills {progress.kills}/{options.kills} · parked {progress.parked}"
                f" · gave up {progress.gave_up} · feed {progress.feed_depth}"
            )
            bar.update(task, completed=progress.settled, detail=detail)

        result = asyncio.run(run_chaos(options, on_progress=show, workdir=workdir))
    console.print(result_table(result))
    return 0 if result.ok else 1


def result_table(result: ChaosResult) -> RenderableType:
    body = result.to_json()
    table = Table(title="orderbridge chaos — ground truth, checked", title_justify="left")
    for column in ("orders", "kills", "faults", "stranded", "doubled", "elapsed"):
        table.add_column(column, justify="right")
    faults = ", ".join(f"{kind} {n}" for kind, n in result.faults.items())
    table.add_row(
        str(body["orders"]),
        str(body["kills"]),
        f"{result.options.faults}: {faults}",
        _alarm(body["stranded"]),
        _alarm(body["doubled"]),
        f"{body['elapsed_s']} s",
    )
    details = Table(show_header=True, title="violations", title_justify="left")
    details.add_column("kind")
    details.add_column("orders", justify="right")
    details.add_column("examples")
    for kind in KINDS:
        found = result.report.of(kind)
        examples = "; ".join(f"{v.order_id}: {v.detail}" for v in found[:SHOWN_IDS])
        details.add_row(kind, _alarm(len({v.order_id for v in found})), examples)
    details.add_row("feed not drained", _alarm(result.report.feed_depth), "")
    details.add_row(
        "still waiting", _alarm(len(result.report.waiting)), ", ".join(result.report.waiting[:SHOWN_IDS])
    )
    summary = Text(
        f"{result.report.final} final · {len(result.report.parked_by_erp)} parked by the ERP · "
        f"database {body['database']} · {cluster_line(result.cluster)} · ended: {result.ended}",
        style="dim",
    )
    verdict = (
        Text("every invariant held", style="bold green")
        if result.ok
        else Text("INVARIANTS BROKEN — see above", style="bold red")
    )
    return Group(table, details, summary, verdict)


def cluster_line(cluster: dict[str, Any]) -> str:
    """`1 serve + 3 worker, kills worker-1 4, worker-2 3, … · 1 database restart (2.3 s)`."""
    processes = " + ".join(f"{n} {role}" for role, n in (cluster.get("processes") or {}).items())
    kills = ", ".join(f"{name} {n}" for name, n in (cluster.get("kills_by_process") or {}).items())
    restarts = cluster.get("database_restarts", 0)
    took = ", ".join(f"{s} s" for s in cluster.get("database_restart_s", []))
    return f"{processes}, kills {kills} · {restarts} database restart(s)" + (f" ({took})" if took else "")


def _alarm(n: int) -> Text:
    return Text(str(n), style="bold red" if n else "green")
