"""The `orderbridge` command. Each sub-command is a thin shell over the room that does the work."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)


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
    seed_orders: int = typer.Option(0, help="Orders generated in ready-for-handling, their events in the feed."),
    latency_ms: int = typer.Option(0, help="Fixed latency added to every VTEX call."),
    faults: str = typer.Option("none", help="Fault profile: none or flaky."),
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
    )


if __name__ == "__main__":
    app()
