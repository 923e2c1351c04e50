"""One `orderbridge run` per SQLite database (issue 10, defect 6): a second service on the same file
refuses to start with a message naming the database — never shares it silently — and a service killed
with SIGKILL leaves nothing behind that blocks the next one. (On PostgreSQL several processes share one
database: `test_cluster_singletons.py`.)"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from orderbridge.sandbox.testing import SandboxServer
from orderbridge.service import ALREADY_RUNNING_EXIT, UNUSABLE_DATABASE_EXIT, run_service

from .conftest import APP_KEY, APP_TOKEN, sandbox_config
from .service_processes import CONFIG, start, stop, wait_started


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ob.db'}"


def test_a_second_service_on_the_same_database_refuses_to_start_until_the_first_is_killed(
    tmp_path: Path, database_url: str
) -> None:
    with SandboxServer(sandbox_config()) as sandbox:
        config = tmp_path / "orderbridge.toml"
        config.write_text(
            CONFIG.format(
                database_url=database_url,
                base_url=sandbox.base_url,
                warehouse=tmp_path / "warehouse.db",
            )
        )
        first = start(config, tmp_path / "first.log")
        second: subprocess.Popen[bytes] | None = None
        third: subprocess.Popen[bytes] | None = None
        try:
            wait_started(first, tmp_path / "first.log")

            second = start(config, tmp_path / "second.log")
            # A deadline for an interpreter to start on a loaded machine (a full run saw more than 20 s),
            # not a measure: that it refused without waiting for the first shows in `first.poll()` below.
            code = second.wait(timeout=90)
            output = (tmp_path / "second.log").read_text(errors="replace")
            assert code == ALREADY_RUNNING_EXIT, output
            assert "already running on the database" in output
            assert make_url(database_url).database in output  # names the database
            assert "service_started" not in output
            assert first.poll() is None  # the first one is untouched

            stop(first, signal.SIGKILL)  # no clean-up at all: the OS releases the lock
            third = start(config, tmp_path / "third.log")
            wait_started(third, tmp_path / "third.log")
        finally:
            stop(first, signal.SIGKILL)
            if second is not None:  # never left running: it would outlive the test
                stop(second, signal.SIGKILL)
            if third is not None:
                stop(third)
        assert third.returncode == 0


def test_a_database_file_where_sqlite_refuses_wal_stops_the_service_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VTEX_APP_KEY", APP_KEY)
    monkeypatch.setenv("VTEX_APP_TOKEN", APP_TOKEN)
    # A VFS without shared memory or locks: SQLite keeps its rollback journal, as on many network file
    # systems. No VTEX is needed: the service refuses before it calls anyone.
    path = tmp_path / "on-nfs.db"
    config = tmp_path / "orderbridge.toml"
    config.write_text(
        CONFIG.format(
            database_url=f"sqlite:///file:{path}?vfs=unix-none&uri=true",
            base_url="http://127.0.0.1:9",
            warehouse=tmp_path / "warehouse.db",
        )
    )

    status = run_service(config)

    assert status == UNUSABLE_DATABASE_EXIT == 2
    error = capsys.readouterr().err
    assert error.startswith("orderbridge: SQLite refused WAL mode for ") and str(path) in error
