"""What `orderbridge status` and `orderbridge orders …` print: thin shells over `operators`.

They need only the database, so they read `database_url` from the configuration file (or
`ORDERBRIDGE_DATABASE_URL`) without requiring the VTEX secrets a running service needs.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import orjson
from rich.console import Console
from rich.table import Table
from sqlalchemy import inspect, make_url

from orderbridge.config import read_toml
from orderbridge.store.db import DEFAULT_URL, Database, sqlite_file_exists
from orderbridge.store.procrastinate_schema import ensure_procrastinate_schema

from . import operators
from .runtime import operator_queue

T = TypeVar("T")
console = Console()


def database_url(config: Path | None) -> str:
    """`ORDERBRIDGE_DATABASE_URL`, else the file's `database_url`, else the default SQLite file."""
    if os.environ.get("ORDERBRIDGE_DATABASE_URL"):
        return os.environ["ORDERBRIDGE_DATABASE_URL"]
    path = config or (
        Path(os.environ["ORDERBRIDGE_CONFIG"]) if os.environ.get("ORDERBRIDGE_CONFIG") else None
    )
    if path is None and Path("orderbridge.toml").exists():
        path = Path("orderbridge.toml")
    if path is None:
        return DEFAULT_URL
    return str(read_toml(path).get("database_url", DEFAULT_URL))


class NoDatabase(Exception):
    """The configured URL holds no orderbridge database: an operator's command must not create one."""


def with_db(config: Path | None, work: Callable[[Database], Awaitable[T]]) -> T:
    logging.getLogger("alembic").setLevel(logging.WARNING)  # an operator's query, not a migration report

    async def main() -> T:
        url = database_url(config)
        if not sqlite_file_exists(url):
            raise NoDatabase(_shown(url))
        db = Database(url)
        try:
            found = await db.read(lambda conn: inspect(conn).has_table("alembic_version"))
            if not found:
                raise NoDatabase(_shown(url))
            await db.migrate()
            if not db.is_sqlite:  # the job queue's schema too, as `run` and `migrate` apply it
                await asyncio.to_thread(ensure_procrastinate_schema, db.url)
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(main())


def _shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def no_database_message(error: NoDatabase) -> str:
    return f"no orderbridge database at {error}; pass --config"


def print_json(value: Any) -> None:
    print(orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode())


def print_status(config: Path | None, as_json: bool) -> int:
    report = with_db(config, operators.status)
    if as_json:
        print_json(report)
        return 0
    table = _narrow_table("account", "orders by pipeline state", "pending", "parked", "paused", "VTEX")
    table.columns[0].no_wrap = True
    table.columns[0].min_width = max((len(name) for name in report["accounts"]), default=7)
    for name, item in report["accounts"].items():
        states = ", ".join(f"{state} {n}" for state, n in sorted(item["orders"].items())) or "-"
        paused = item["paused_reason"] or "yes" if item["paused"] else "no"
        vtex = {True: "ok", False: "[bold red]degraded[/]", None: "-"}[item["vtex"]["healthy"]]
        table.add_row(name, states, str(item["jobs_pending"]), str(item["jobs_parked"]), paused, vtex)
    console.print(table)
    for name, item in report["accounts"].items():
        if item["vtex"]["healthy"] is False:
            vtex = item["vtex"]
            console.print(
                f"[bold red]VTEX of {name}: DEGRADED[/] since {vtex['since']} "
                f"({vtex['consecutive_failures']} feed reads failed in a row, last: {vtex['last_error']}); "
                "reads are retried with backoff"
            )
    for name, channel in report["erp_channels"].items():
        if channel["healthy"]:
            console.print(f"ERP channel {name}: healthy")
        else:
            console.print(
                f"[bold red]ERP channel {name}: UNHEALTHY[/] since {channel['since']} "
                f"({channel['consecutive_failures']} failures in a row, last: {channel['last_error']}); "
                "orders wait and are retried, none is parked for it"
            )
    if report["jobs"]:
        waiting = _narrow_table("job kind", "pending", "oldest waiting", title="jobs pending")
        for kind, item in report["jobs"].items():
            oldest = "" if item["oldest_s"] is None else f"{item['oldest_s']:.0f} s"
            waiting.add_row(kind, str(item["pending"]), oldest)
        console.print(waiting)
    if "cluster" in report:
        _print_cluster(report["cluster"])
    return 0


def _print_cluster(cluster: dict[str, Any]) -> None:
    loops = _narrow_table("loop", "runs in", title="once-per-cluster loops")
    for name, holder in cluster["loops"].items():
        where = f"pid {holder['pid']} on {holder['host']}" if holder else "[bold red]not running[/]"
        loops.add_row(name, where)
    console.print(loops)
    workers = _narrow_table("worker", "host", "pid", "last heartbeat", "jobs running", title="job workers")
    for worker in cluster["workers"]:
        workers.add_row(
            str(worker["id"]),
            _cell(worker["host"]),
            _cell(worker["pid"]),
            _cell(worker["last_heartbeat"]),
            str(worker["jobs_running"]),
        )
    console.print(workers)


def print_orders(
    config: Path | None, account: str | None, state: str | None, limit: int, as_json: bool
) -> int:
    rows = with_db(config, lambda db: operators.list_orders(db, account, state, limit))
    if as_json:
        print_json(rows)
        return 0
    # 80 columns: one table per account (its name as the title, not a column), no vertical rules, ids
    # never wrapped or cut (other cells wrap), the age instead of a timestamp, and park reasons — the
    # long cells — under the table, one paragraph each.
    now = datetime.now(UTC)
    width = max((len(row["order_id"]) for row in rows), default=5)
    for name in dict.fromkeys(row["account"] for row in rows):
        table = _narrow_table("order", "VTEX status", "pipeline state", "value", "updated", title=name)
        table.columns[0].no_wrap = True
        table.columns[0].min_width = width
        table.columns[3].justify = "right"
        table.columns[3].no_wrap = True
        mine = [row for row in rows if row["account"] == name]
        for row in mine:
            table.add_row(
                row["order_id"],
                row["vtex_status"] or "",
                row["pipeline_state"],
                f"{row['value_cents'] / 100:.2f}",
                _age(now, datetime.fromisoformat(row["updated_at"])) + " ago",
            )
        console.print(table)
        for row in mine:
            if row["park_reason"]:
                console.print(f"{row['order_id']} parked: {row['park_reason']}", overflow="fold")
        console.print()
    if not rows:
        console.print("no orders")
    return 0


def _narrow_table(*columns: str, title: str | None = None) -> Table:
    table = Table(
        box=None, pad_edge=False, header_style="bold", title=title, title_justify="left", title_style="bold"
    )
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def _age(now: datetime, then: datetime) -> str:
    """`42s`, `7m`, `3h`, `2d`: how long ago, in 4 characters or fewer."""
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def print_order(config: Path | None, order_id: str, account: str | None, as_json: bool) -> int:
    async def work(db: Database) -> dict[str, Any] | str:
        chosen = account or await _only_account(db, order_id)
        if chosen is None:
            return f"order {order_id} is unknown (or in several accounts: pass --account)"
        shown = await operators.show_order(db, chosen, order_id)
        return shown if shown is not None else f"order {order_id} is unknown in account {chosen}"

    shown = with_db(config, work)
    if isinstance(shown, str):
        console.print(shown)
        return 1
    if as_json:
        print_json(shown)
        return 0
    order = shown["order"]
    console.print(
        f"[bold]{order['order_id']}[/] ({order['account']}): VTEX {order['vtex_status']}, "
        f"pipeline {order['pipeline_state']}"
        + (f", parked: {order['park_reason']}" if order["park_reason"] else "")
    )
    # The identifying cells (invoice numbers, HTTP statuses, times) never wrap; free text wraps.
    _rows(
        "commands",
        shown["commands"],
        {"created_at": "at", "kind": "kind", "status": "status", "invoice_number": "invoice",
         "channel": "channel", "error": "error"},
        keep_whole=("created_at", "invoice_number"),
    )  # fmt: skip
    _rows(
        "attempts",
        shown["attempts"],
        {"at": "at", "action": "action", "outcome": "outcome", "http_status": "HTTP", "detail": "detail"},
        keep_whole=("at", "http_status"),
    )
    _rows(
        "jobs",
        shown["jobs"],
        {"id": "id", "kind": "kind", "status": "status", "attempt": "attempt", "last_error": "last error"},
        keep_whole=("id",),
    )
    return 0


def retry(config: Path | None, order_id: str, account: str | None) -> int:
    async def work(db: Database) -> dict[str, Any] | str:
        chosen = account or await _only_account(db, order_id)
        if chosen is None:
            return f"order {order_id} is unknown (or in several accounts: pass --account)"
        async with operator_queue(db) as queue:
            return await operators.retry_order(db, queue, chosen, order_id)

    result = with_db(config, work)
    if isinstance(result, str):
        console.print(result)
        return 1
    console.print(
        f"requeued jobs: {result['requeued_jobs'] or 'none'}; park cleared: {result['park_cleared']}; "
        f"sync job: {result['sync_job'] or 'already waiting'}"
    )
    return 0


async def _only_account(db: Database, order_id: str) -> str | None:
    accounts = await operators.find_accounts(db, order_id)
    return accounts[0] if len(accounts) == 1 else None


def _rows(
    title: str, rows: list[dict[str, Any]], columns: dict[str, str], keep_whole: tuple[str, ...]
) -> None:
    table = _narrow_table(*columns.values(), title=title)
    for column, key in zip(table.columns, columns, strict=True):
        if key in keep_whole:
            column.no_wrap = True
            column.min_width = max((len(_cell(row.get(key))) for row in rows), default=0)
    for row in rows:
        table.add_row(*(_cell(row.get(key)) for key in columns))
    console.print(table)


def _cell(value: Any) -> str:
    """A table cell; ISO times to the second, in the stored UTC ("2026-03-01 12:00:05")."""
    if value is None:
        return ""
    if isinstance(value, str) and len(value) >= 19 and value[10:11] == "T" and value[4:5] == "-":
        return value[:19].replace("T", " ")
    return str(value)


def retry_parked(config: Path | None, account: str | None, reason: str | None) -> int:
    """`orders retry --parked`: every parked order (of one account), with a progress bar."""
    from rich.progress import Progress

    from . import oversight

    with Progress(console=console, transient=False) as bar:
        task = bar.add_task("retrying parked orders", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        async def work(db: Database) -> list[dict[str, Any]]:
            async with operator_queue(db) as queue:
                return await oversight.retry_parked(
                    db, queue, account, who="cli", reason=reason, progress=progress
                )

        results = with_db(config, work)
    cleared = sum(1 for r in results if r["park_cleared"])
    console.print(f"retried {len(results)} parked orders; parks cleared: {cleared}")
    return 0
