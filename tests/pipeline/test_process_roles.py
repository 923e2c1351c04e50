"""Process roles (issue 12): `orderbridge worker` runs jobs and the once-per-cluster loops, no API;
`orderbridge serve` runs the API and hook receiver only; both need PostgreSQL and say so on SQLite."""

from __future__ import annotations

import json
from pathlib import Path

import httpx2
import pytest
from typer.testing import CliRunner

from orderbridge.cli import app
from orderbridge.sandbox.testing import SandboxServer

from .conftest import ACCOUNT, APP_KEY, APP_TOKEN, sandbox_config
from .service_processes import CONFIG, start, stop, wait_started
from .test_cluster_singletons import LOOPS, taken, wait_for


@pytest.mark.parametrize("role", ["worker", "serve"])
def test_worker_and_serve_refuse_a_sqlite_database_with_one_line_and_exit_2(
    tmp_path: Path, role: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VTEX_APP_KEY", APP_KEY)
    monkeypatch.setenv("VTEX_APP_TOKEN", APP_TOKEN)
    database = tmp_path / "ob.db"
    config = tmp_path / "orderbridge.toml"
    text = CONFIG.format(
        database_url=f"sqlite:///{database}", base_url="http://127.0.0.1:9", warehouse="wh.db"
    )
    config.write_text(text)

    result = CliRunner().invoke(app, [role, "--config", str(config)])

    assert result.exit_code == 2, result.output
    assert f"orderbridge {role} needs a PostgreSQL database_url" in result.output
    assert "use 'orderbridge run'" in result.output
    assert "Traceback" not in result.output
    assert not database.exists(), "refused before touching the database"


def _started(log: Path) -> dict[str, object]:
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{") and '"service_started"' in line:
            found: dict[str, object] = json.loads(line)
            return found
    raise AssertionError(f"no service_started in {log}")


@pytest.mark.postgres
def test_serve_answers_http_without_running_loops_while_a_worker_runs_them_without_an_api(
    tmp_path: Path, cluster_url: str
) -> None:
    with SandboxServer(sandbox_config()) as sandbox:
        config = tmp_path / "orderbridge.toml"
        text = CONFIG.format(
            database_url=cluster_url, base_url=sandbox.base_url, warehouse=tmp_path / "wh.db"
        )
        config.write_text(text.replace("enabled = false", "enabled = true\nport = 0"))
        serve_log, worker_log = tmp_path / "serve.log", tmp_path / "worker.log"
        serving, working = start(config, serve_log, "serve"), start(config, worker_log, "worker")
        try:
            wait_started(serving, serve_log)
            wait_started(working, worker_log)
            wait_for(lambda: taken(worker_log) == LOOPS, 10, "the worker takes every loop")
            port = _started(serve_log)["api_port"]
            health = httpx2.get(f"http://127.0.0.1:{port}/healthz", timeout=5)

            assert health.status_code == 200
            assert _started(worker_log)["api_port"] is None, "a worker serves no API"
            assert taken(serve_log) == set(), "serve runs no loop"
            assert "Starting worker" not in serve_log.read_text(), "serve runs no jobs"
            assert ACCOUNT in str(_started(serve_log)["accounts"])
        finally:
            stop(serving)
            stop(working)
        assert serving.returncode == 0 and working.returncode == 0
