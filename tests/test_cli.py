import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli_seed import LONG_REASON, ORDERS, seed_database
from orderbridge import __version__
from orderbridge.cli import app

REPO = Path(__file__).resolve().parents[1]


def test_version_command_prints_the_package_version() -> None:
    result = CliRunner().invoke(app, ["version"])
    assert result.exit_code == 0
    assert result.output.strip() == __version__


def test_operator_commands_never_create_a_database(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.db"
    config = tmp_path / "orderbridge.toml"
    config.write_text(f'database_url = "sqlite:///{missing}"\n')
    runner = CliRunner()

    for args in (["status"], ["orders", "list"], ["orders", "show", "1-01"], ["orders", "retry", "--parked"]):
        result = runner.invoke(app, [*args, "--config", str(config)])
        assert result.exit_code == 2, (args, result.output)
        assert f"no orderbridge database at sqlite:///{missing}; pass --config" in result.output
        assert "Traceback" not in result.output
    assert not missing.exists()


def test_retrying_every_parked_order_reports_how_many(tmp_path: Path) -> None:
    import asyncio

    from orderbridge.store.db import Database

    url = f"sqlite:///{tmp_path / 'ob.db'}"

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


def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("ORDERBRIDGE_", "VTEX_")):
            monkeypatch.delenv(name)


def test_a_configuration_error_is_one_line_per_problem_exit_2_and_no_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _clean_environment(monkeypatch)
    config = tmp_path / "orderbridge.toml"
    config.write_text('[[accounts]]\nbase_url = "http://127.0.0.1:1"\nmaxlot = 50\n')

    result = CliRunner().invoke(app, ["run", "--config", str(config)])

    assert result.exit_code == 2, (result.exception, result.output)
    assert result.output.splitlines() == [
        f"orderbridge: {config}: 4 problem(s)",
        "  accounts[0].name: Field required",
        "  accounts[0].app_key: not in the file and environment variable VTEX_APP_KEY is not set",
        "  accounts[0].app_token: not in the file and environment variable VTEX_APP_TOKEN is not set",
        "  accounts[0].maxlot: Input should be less than or equal to 10 (got 50)",
    ]


def test_a_list_from_the_environment_that_is_not_json_names_its_variable_and_the_simple_form(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _clean_environment(monkeypatch)
    monkeypatch.setenv("VTEX_APP_KEY", "k")
    monkeypatch.setenv("VTEX_APP_TOKEN", "t")
    monkeypatch.setenv("ORDERBRIDGE_API__TOKENS", "secret-one,secret-two")

    result = CliRunner().invoke(app, ["run", "--config", str(REPO / "orderbridge.example.toml")])

    assert result.exit_code == 2, (result.exception, result.output)
    lines = result.output.splitlines()
    assert len(lines) == 2, lines
    assert lines[1].startswith("  environment variable ORDERBRIDGE_API__TOKENS: not valid JSON")
    assert "ORDERBRIDGE_API_TOKENS=token1,token2" in lines[1]
    assert "secret-one" not in result.output


def test_an_unreadable_configuration_file_is_one_line_and_exit_2_for_operator_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _clean_environment(monkeypatch)
    broken = tmp_path / "broken.toml"
    broken.write_text("[[accounts]\n")
    runner = CliRunner()

    for args in (["status"], ["orders", "list"], ["run"]):
        for config in (broken, tmp_path / "missing.toml"):
            result = runner.invoke(app, [*args, "--config", str(config)])
            assert result.exit_code == 2, (args, result.exception, result.output)
            assert len(result.output.splitlines()) == 1, result.output
            assert result.output.startswith(f"orderbridge: {config}: ")


def _orderbridge_at_80_columns(*args: str) -> str:
    """The real command, on a non-terminal stdout of 80 columns (as piped or in a narrow terminal)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("ORDERBRIDGE_", "VTEX_"))}
    done = subprocess.run(
        [sys.executable, "-m", "orderbridge.cli", *args],
        env={**environment, "COLUMNS": "80"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_orders_list_fits_80_columns_without_cutting_ids(tmp_path: Path) -> None:
    config = seed_database(tmp_path)

    shown = _orderbridge_at_80_columns("orders", "list", "--config", config)

    lines = shown.splitlines()
    assert max(len(line) for line in lines) <= 80, shown
    assert "…" not in shown, shown
    for order in ORDERS:
        assert any(order["order_id"] in line for line in lines), (order["order_id"], shown)
    assert "1234567.89" in shown and "19.99" in shown
    assert " ".join(LONG_REASON.split()) in " ".join(shown.split())  # wrapped, never cut


def test_orders_show_gives_invoice_numbers_and_http_statuses_in_80_columns(tmp_path: Path) -> None:
    config = seed_database(tmp_path)

    shown = _orderbridge_at_80_columns("orders", "show", "1428120565211-01", "--config", config)

    assert max(len(line) for line in shown.splitlines()) <= 80, shown
    assert "…" not in shown, shown
    assert "NF-000123456" in shown
    assert re.search(r"\bvtex\.invoice\b.*\b503\b", shown), shown


def test_status_shows_an_account_whose_vtex_is_unreachable_as_degraded(tmp_path: Path) -> None:
    config = seed_database(tmp_path, vtex_unreachable="sandboxaccount")

    shown = _orderbridge_at_80_columns("status", "--config", config)

    assert "degraded" in shown
    assert "VTEX of sandboxaccount: DEGRADED" in " ".join(shown.split())
    assert "ERP channel vtex:" not in shown


def test_migrate_brings_a_new_database_to_the_newest_schema_and_check_says_so(tmp_path: Path) -> None:
    from orderbridge.store.migrate import head_revision

    database = tmp_path / "deploy" / "orderbridge.db"
    config = tmp_path / "orderbridge.toml"
    config.write_text(f'database_url = "sqlite:///{database}"\n')
    runner = CliRunner()

    def migrate(*flags: str) -> tuple[int, str]:
        result = runner.invoke(app, ["migrate", "--config", str(config), *flags])
        return result.exit_code, result.output.strip().splitlines()[-1]  # after the migration's log line

    head = head_revision()
    assert migrate("--check") == (1, f"schema at none (never migrated); newest known: {head}")
    assert not database.exists()  # a check creates nothing
    assert migrate() == (0, f"schema migrated from nothing to {head}")
    assert migrate("--check") == (0, f"schema at {head}; newest known: {head}")
    assert migrate() == (0, f"schema at {head}; newest known: {head}")
