"""The `orderbridge` command. Each sub-command is a thin shell over the room that does the work."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

import typer

Role = Literal["run", "worker", "serve"]

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)


@app.callback()
def main(
    log_level: str | None = typer.Option(
        None,
        envvar="ORDERBRIDGE_LOG_LEVEL",
        help="debug, info, warning, error (any case). Default: the file's log_level, else info.",
    ),
    log_format: str | None = typer.Option(
        None,
        envvar="ORDERBRIDGE_LOG_FORMAT",
        help="json or console. Default: the file's log_format, else JSON unless stdout is a terminal.",
    ),
    log_json: bool = typer.Option(False, envvar="ORDERBRIDGE_LOG_JSON", help="Same as --log-format json."),
) -> None:
    """orderbridge: VTEX orders to an ERP and back, each exactly once. Logs go to stderr."""
    from orderbridge.logsetup import configure_from_command_line

    try:
        configure_from_command_line(log_level, "json" if log_json else log_format)
    except ValueError as error:
        typer.echo(f"orderbridge: {error}", err=True)
        raise typer.Exit(2) from None


@app.command()
def version() -> None:
    """Print the installed version."""
    from orderbridge import __version__

    typer.echo(__version__)


@app.command()
def sandbox(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8700, help="Port to listen on."),
    account_name: str | None = typer.Option(
        None, help="VTEX account name the sandbox pretends to be (default: sandboxaccount)."
    ),
    app_key: str | None = typer.Option(
        None, help="The appKey clients must send (default: vtexappkey-sandbox)."
    ),
    app_token: str | None = typer.Option(
        None, help="The appToken clients must send (default: sandbox-token)."
    ),
    account: list[str] | None = typer.Option(
        None,
        "--account",
        help="NAME:APPKEY:APPTOKEN of an account to serve too (repeatable); clients reach it at"
        " /NAME/api/... The first is the default account unless --account-name, --app-key or --app-token"
        " describe it.",
    ),
    seed_orders: int = typer.Option(0, help="Orders generated in ready-for-handling, events in the feed."),
    latency_ms: int = typer.Option(0, help="Fixed latency added to every VTEX call."),
    faults: str = typer.Option("none", help="Fault profile: none or flaky."),
    seed: int = typer.Option(42, help="Seed of the deterministic order generator."),
    grace_period_s: float = typer.Option(0.0, help="window-to-cancel seconds of new orders, 0 = none."),
    changes_v1: bool = typer.Option(True, help="Serve Change v1 (--no-changes-v1: deactivated, as in 2026)."),
) -> None:
    """Serve an offline VTEX OMS on VTEX's own paths (one or several accounts)."""
    from orderbridge.sandbox.config import SandboxAccount, SandboxConfig
    from orderbridge.sandbox.server import serve_config

    defaults = SandboxConfig()
    single_given = any(option is not None for option in (account_name, app_key, app_token))
    try:
        first = (
            [
                SandboxAccount(
                    account_name or defaults.account_name,
                    app_key or defaults.app_key,
                    app_token or defaults.app_token,
                )
            ]
            if single_given or not account
            else []
        )
        default, *more = [*first, *(SandboxAccount.parse(spec) for spec in account or [])]
        config = SandboxConfig(
            account_name=default.name,
            app_key=default.app_key,
            app_token=default.app_token,
            more_accounts=tuple(more),
            seed_orders=seed_orders,
            latency_ms=latency_ms,
            faults=faults,
            seed=seed,
            grace_period_s=grace_period_s,
            changes_v1_enabled=changes_v1,
        )
    except ValueError as error:
        typer.echo(f"orderbridge sandbox: {error}", err=True)
        raise typer.Exit(2) from None
    serve_config(host, port, config)


@app.command()
def demo(
    orders: int = typer.Option(200, min=1, max=100000, help="Orders the sandbox creates."),
    json_output: bool = typer.Option(False, "--json", help="Print only the summary, as one JSON object."),
    database_url: str | None = typer.Option(None, help="Pipeline database (default: temporary SQLite)."),
    timeout_s: float = typer.Option(90.0, "--timeout", min=1, help="Give up after this many seconds."),
) -> None:
    """Sandbox + pipeline + simulated warehouse on this machine; exit 1 if an order was lost or doubled."""
    from orderbridge.demo.command import run_command

    raise typer.Exit(
        run_command(orders=orders, json_output=json_output, database_url=database_url, timeout_s=timeout_s)
    )


@app.command()
def chaos(
    orders: int = typer.Option(500, min=1, max=100000, help="Orders the sandbox creates, in waves."),
    kills: int = typer.Option(5, min=0, help="SIGKILLs of the pipeline (each followed by a restart)."),
    kill_every_s: float = typer.Option(5.0, min=0.1, help="Mean seconds between two kills."),
    database: str | None = typer.Option(
        None, help="Pipeline database: default a temporary SQLite file; or an EMPTY PostgreSQL URL."
    ),
    faults: str = typer.Option("flaky", help="VTEX fault profile: flaky or none."),
    rate: float = typer.Option(100.0, min=0.1, help="Orders created per second."),
    timeout_s: float = typer.Option(600.0, "--timeout", min=1, help="Give up after this many seconds."),
    stall_s: float = typer.Option(30.0, min=1, help="End early when nothing moved for this long."),
    seed: int = typer.Option(42, help="Seed of orders, plans, shoppers and kill times."),
    json_output: bool = typer.Option(False, "--json", help="Print only the result, as one JSON object."),
    workdir: Path | None = typer.Option(None, help="Keep logs and databases here (default: temporary)."),
    workers: int = typer.Option(
        0, min=0, max=32, help="0: one 'orderbridge run'; N: N 'orderbridge worker' (PostgreSQL)."
    ),
    serve: int = typer.Option(1, min=1, max=8, help="'orderbridge serve' processes of a cluster."),
    restart_database: bool = typer.Option(
        False, "--restart-database", help="Restart PostgreSQL once, midway through the kills."
    ),
    database_restart_cmd: str | None = typer.Option(
        None, help="Shell command restarting the database server (default: pg_ctl on a local data dir)."
    ),
) -> None:
    """Thousands of orders under a flaky VTEX and repeated SIGKILLs, then the invariant checker;
    exit 1 if any order was stranded or doubled (or the run did not settle)."""
    from orderbridge.chaos.command import run_command
    from orderbridge.chaos.scenario import ChaosOptions

    options = ChaosOptions(
        orders=orders,
        kills=kills,
        kill_every_s=kill_every_s,
        database_url=database,
        faults=faults,
        rate=rate,
        timeout_s=timeout_s,
        stall_s=stall_s,
        seed=seed,
        workers=workers,
        serve=serve,
        restart_database=restart_database,
        database_restart_cmd=database_restart_cmd,
    )
    raise typer.Exit(run_command(options, json_output=json_output, workdir=workdir))


ConfigOption = typer.Option(None, "--config", "-c", help="Configuration file (default: ./orderbridge.toml).")


@app.command()
def run(config: Path | None = ConfigOption) -> None:
    """The service: feed/hook intake, the ERP adapter, command relay and reconciliation, until Ctrl-C
    (all in one process; on PostgreSQL see also `worker` and `serve`)."""
    raise typer.Exit(_service(config, "run"))


@app.command()
def worker(config: Path | None = ConfigOption) -> None:
    """Jobs and the once-per-cluster loops (feed pollers, reconciliation, the ERP's way back), no API:
    any number, on any hosts. PostgreSQL only."""
    raise typer.Exit(_service(config, "worker"))


@app.command()
def serve(config: Path | None = ConfigOption) -> None:
    """The API and VTEX hook receiver only (no jobs, no loops): any number behind a load balancer.
    PostgreSQL only."""
    raise typer.Exit(_service(config, "serve"))


def _service(config: Path | None, role: Role) -> int:
    from orderbridge.config import ConfigError
    from orderbridge.service import run_service

    try:
        return run_service(config, role)
    except ConfigError as error:
        typer.echo(f"orderbridge: {error}", err=True)
        return 2


@app.command()
def status(
    config: Path | None = ConfigOption,
    json_output: bool = typer.Option(False, "--json", help="One JSON object."),
) -> None:
    """Orders by pipeline state, jobs pending and parked, and pauses — per account."""
    from orderbridge.pipeline.console import print_status

    raise typer.Exit(_operator(lambda: print_status(config, json_output)))


orders_app = typer.Typer(no_args_is_help=True, help="Inspect and retry orders (operators).")
app.add_typer(orders_app, name="orders")


@orders_app.command("list")
def orders_list(
    config: Path | None = ConfigOption,
    account: str | None = typer.Option(None, help="Only this account."),
    state: str | None = typer.Option(None, help="Only this pipeline state (e.g. parked)."),
    limit: int = typer.Option(50, min=1, help="At most this many, most recently updated first."),
    json_output: bool = typer.Option(False, "--json", help="A JSON array."),
) -> None:
    """Orders with their VTEX status, pipeline state and park reason."""
    from orderbridge.pipeline.console import print_orders

    raise typer.Exit(_operator(lambda: print_orders(config, account, state, limit, json_output)))


@orders_app.command("show")
def orders_show(
    order_id: str = typer.Argument(..., help="The VTEX order id, e.g. 1234567890123-01."),
    config: Path | None = ConfigOption,
    account: str | None = typer.Option(None, help="The account, when the id exists in several."),
    json_output: bool = typer.Option(False, "--json", help="One JSON object."),
) -> None:
    """Everything known about one order: snapshot, commands, every attempt, jobs."""
    from orderbridge.pipeline.console import print_order

    raise typer.Exit(_operator(lambda: print_order(config, order_id, account, json_output)))


@orders_app.command("retry")
def orders_retry(
    order_id: str | None = typer.Argument(None, help="The VTEX order id (or --parked for all)."),
    config: Path | None = ConfigOption,
    account: str | None = typer.Option(None, help="The account, when the id exists in several."),
    parked: bool = typer.Option(False, "--parked", help="Retry every parked order (of --account)."),
    reason: str | None = typer.Option(None, help="Why: recorded with each retry."),
) -> None:
    """Requeue the order's parked jobs, clear its park reason and sync it again."""
    from orderbridge.pipeline.console import retry, retry_parked

    if parked == (order_id is not None):
        typer.echo("orderbridge: give an order id or --parked (not both)", err=True)
        raise typer.Exit(2)
    if parked:
        raise typer.Exit(_operator(lambda: retry_parked(config, account, reason)))
    assert order_id is not None
    raise typer.Exit(_operator(lambda: retry(config, order_id, account)))


def _operator(command: Callable[[], int]) -> int:
    """An operator's command over the database: a missing database or an unreadable configuration file
    is exit 2 with one line."""
    from orderbridge.config import ConfigError
    from orderbridge.pipeline.console import NoDatabase, no_database_message

    try:
        return command()
    except NoDatabase as error:
        typer.echo(f"orderbridge: {no_database_message(error)}", err=True)
        return 2
    except ConfigError as error:
        typer.echo(f"orderbridge: {error}", err=True)
        return 2


@app.command()
def migrate(
    config: Path | None = ConfigOption,
    check: bool = typer.Option(
        False, "--check", help="Change nothing; exit 1 unless at the newest migration."
    ),
) -> None:
    """Bring the database to this version's schema (`run` also does it when it starts)."""
    import asyncio

    from orderbridge.config import ConfigError
    from orderbridge.pipeline.console import database_url
    from orderbridge.store.schema_command import migrate_schema

    try:
        url = database_url(config)  # only the database: a deploy may migrate before accounts exist
    except ConfigError as error:
        typer.echo(f"orderbridge: {error}", err=True)
        raise typer.Exit(2) from None
    state = asyncio.run(migrate_schema(url, check_only=check))
    typer.echo(state.describe())
    raise typer.Exit(0 if state.at_head else 1)


@app.command()
def openapi(
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout."),
) -> None:
    """Print the ERP-facing REST API's OpenAPI document (JSON), to generate ERP clients from."""
    import json

    from orderbridge.api.rest import openapi_document

    text = json.dumps(openapi_document(), indent=2) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text)


if __name__ == "__main__":
    app()
