"""The `orderbridge` command. Each sub-command is a thin shell over the room that does the work."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)


@app.callback()
def main(
    log_level: str = typer.Option("INFO", envvar="ORDERBRIDGE_LOG_LEVEL", help="DEBUG, INFO, WARNING..."),
    log_json: bool = typer.Option(False, envvar="ORDERBRIDGE_LOG_JSON", help="One JSON object per log line."),
) -> None:
    """orderbridge: VTEX orders to an ERP and back, each exactly once. Logs go to stderr."""
    from orderbridge.logsetup import configure_logging

    configure_logging(log_level, json=log_json)


@app.command()
def version() -> None:
    """Print the installed version."""
    from orderbridge import __version__

    typer.echo(__version__)


@app.command()
def sandbox(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8700, help="Port to listen on."),
    account_name: str = typer.Option("sandboxaccount", help="VTEX account name the sandbox pretends to be."),
    app_key: str = typer.Option("vtexappkey-sandbox", help="The appKey clients must send."),
    app_token: str = typer.Option("sandbox-token", help="The appToken clients must send."),
    seed_orders: int = typer.Option(0, help="Orders generated in ready-for-handling, events in the feed."),
    latency_ms: int = typer.Option(0, help="Fixed latency added to every VTEX call."),
    faults: str = typer.Option("none", help="Fault profile: none or flaky."),
    seed: int = typer.Option(42, help="Seed of the deterministic order generator."),
    grace_period_s: float = typer.Option(0.0, help="window-to-cancel seconds of new orders, 0 = none."),
    changes_v1: bool = typer.Option(True, help="Serve Change v1 (--no-changes-v1: deactivated, as in 2026)."),
) -> None:
    """Serve an offline VTEX OMS on VTEX's own paths."""
    from orderbridge.sandbox.server import serve

    serve(
        host=host,
        port=port,
        account_name=account_name,
        app_key=app_key,
        app_token=app_token,
        seed_orders=seed_orders,
        latency_ms=latency_ms,
        faults=faults,
        seed=seed,
        grace_period_s=grace_period_s,
        changes_v1_enabled=changes_v1,
    )


if __name__ == "__main__":
    app()
