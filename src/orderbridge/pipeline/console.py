"""What `orderbridge status` and `orderbridge orders …` print: thin shells over `operators`.

They need only the database, so they read `database_url` from the configuration file (or
`ORDERBRIDGE_DATABASE_URL`) without requiring the VTEX secrets a running service needs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tomllib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import orjson
from rich.console import Console
from rich.table import Table

from orderbridge.jobs.embedded import EmbeddedQueue
from orderbridge.store.db import DEFAULT_URL, Database

from . import operators

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
    with path.open("rb") as file:
        return str(tomllib.load(file).get("database_url", DEFAULT_URL))


def with_db(config: Path | None, work: Callable[[Database], Awaitable[T]]) -> T:
    logging.getLogger("alembic").setLevel(logging.WARNING)  # an operator's query, not a migration report

    async def main() -> T:
        db = Database(database_url(config))
        try:
            await db.migrate()
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(main())


def print_json(value: Any) -> None:
    print(orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode())


def print_status(config: Path | None, as_json: bool) -> int:
    report = with_db(config, operators.status)
    if as_json:
        print_json(report)
        return 0
    table = Table("account", "orders by pipeline state", "jobs pending", "jobs parked", "paused")
    for name, item in report["accounts"].items():
        states = ", ".join(f"{state} {n}" for state, n in sorted(item["orders"].items())) or "-"
        paused = item["paused_reason"] or "yes" if item["paused"] else "no"
        table.add_row(name, states, str(item["jobs_pending"]), str(item["jobs_parked"]), paused)
    console.print(table)
    for name, channel in report["erp_channels"].items():
        if channel["healthy"]:
            console.print(f"ERP channel {name}: healthy")
        else:
            console.print(
                f"[bold red]ERP channel {name}: UNHEALTHY[/] since {channel['since']} "
                f"({channel['consecutive_failures']} failures in a row, last: {channel['last_error']}); "
                "orders wait and are retried, none is parked for it"
            )
    return 0


def print_orders(
    config: Path | None, account: str | None, state: str | None, limit: int, as_json: bool
) -> int:
    rows = with_db(config, lambda db: operators.list_orders(db, account, state, limit))
    if as_json:
        print_json(rows)
        return 0
    table = Table("account", "order", "VTEX status", "pipeline state", "value", "updated", "park reason")
    for row in rows:
        table.add_row(
            row["account"],
            row["order_id"],
            row["vtex_status"] or "",
            row["pipeline_state"],
            f"{row['value_cents'] / 100:.2f}",
            row["updated_at"],
            row["park_reason"] or "",
        )
    console.print(table)
    return 0


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
    _rows("commands", shown["commands"], ("created_at", "kind", "status", "channel", "error"))
    _rows("attempts", shown["attempts"], ("at", "action", "outcome", "http_status", "detail"))
    _rows("jobs", shown["jobs"], ("id", "kind", "status", "attempt", "last_error"))
    return 0


def retry(config: Path | None, order_id: str, account: str | None) -> int:
    async def work(db: Database) -> dict[str, Any] | str:
        chosen = account or await _only_account(db, order_id)
        if chosen is None:
            return f"order {order_id} is unknown (or in several accounts: pass --account)"
        return await operators.retry_order(db, EmbeddedQueue(db, {}), chosen, order_id)

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


def _rows(title: str, rows: list[dict[str, Any]], columns: tuple[str, ...]) -> None:
    table = Table(*columns, title=title)
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row[c]) for c in columns))
    console.print(table)
