from pathlib import Path

from typer.testing import CliRunner

from orderbridge import __version__
from orderbridge.cli import app


def test_version_command_prints_the_package_version() -> None:
    result = CliRunner().invoke(app, ["version"])
    assert result.exit_code == 0
    assert result.output.strip() == __version__


def test_operator_commands_never_create_a_database(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.db"
    config = tmp_path / "orderbridge.toml"
    config.write_text(f'database_url = "sqlite+aiosqlite:///{missing}"\n')
    runner = CliRunner()

    for args in (["status"], ["orders", "list"], ["orders", "show", "1-01"], ["orders", "retry", "--parked"]):
        result = runner.invoke(app, [*args, "--config", str(config)])
        assert result.exit_code == 2, (args, result.output)
        assert f"no orderbridge database at sqlite+aiosqlite:///{missing}; pass --config" in result.output
        assert "Traceback" not in result.output
    assert not missing.exists()


def test_retrying_every_parked_order_reports_how_many(tmp_path: Path) -> None:
    import asyncio

    from orderbridge.store.db import Database

    url = f"sqlite+aiosqlite:///{tmp_path / 'ob.db'}"

    async def create() -> None:
        db = Database(url)
        await db.migrate()
        await db.dispose()

    asyncio.run(create())
    config = tmp_path / "orderbridge.toml"
    config.write_text(f'database_url = "{url}"\n')

    result = CliRunner().invoke(
        app, ["orders", "retry", "--parked", "--reason", "fixed", "--config", str(config)]
    )

    assert result.exit_code == 0, result.output
    assert "retried 0 parked orders" in result.output
