"""What a chaos run on a cluster refuses before anything starts, and how it restarts a database."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from orderbridge.chaos import ChaosOptions, run_chaos
from orderbridge.chaos.database import CannotRestartDatabase, DatabaseRestart, database_restart
from orderbridge.cli import app


async def test_a_cluster_on_sqlite_is_refused_before_anything_starts() -> None:
    with pytest.raises(ValueError, match="needs a PostgreSQL --database"):
        await run_chaos(ChaosOptions(workers=3))


def test_restarting_sqlite_is_refused_in_one_line_with_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["chaos", "--restart-database", "--workdir", str(tmp_path)])

    assert result.exit_code == 2, result.output
    assert "--restart-database needs a PostgreSQL --database" in result.output
    assert "Traceback" not in result.output


def test_a_database_server_on_another_host_is_not_restarted_without_a_command() -> None:
    with pytest.raises(CannotRestartDatabase, match="not on this machine: give --database-restart-cmd"):
        database_restart("postgresql+psycopg://ob@db.example.com:5432/orderbridge", None)


def test_a_given_restart_command_is_used_as_is_and_its_failure_reported(tmp_path: Path) -> None:
    restart = database_restart("postgresql+psycopg://ob@db.example.com/x", "echo restarting; exit 3")

    with pytest.raises(CannotRestartDatabase, match="exited with 3:\nrestarting"):
        restart.run(tmp_path / "restart.log")
    assert DatabaseRestart(shell_command="true").run(tmp_path / "restart.log") >= 0


@pytest.mark.postgres
def test_the_local_test_server_is_restarted_by_pg_ctl_on_its_data_directory(postgres_server_url: str) -> None:
    restart = database_restart(postgres_server_url, None)

    pg_ctl = list(restart.pg_ctl)
    assert Path(pg_ctl[pg_ctl.index("-D") + 1], "PG_VERSION").exists()
    assert Path(pg_ctl[pg_ctl.index("-D") - 1]).name == "pg_ctl"
    assert restart.describe().endswith("restart")
