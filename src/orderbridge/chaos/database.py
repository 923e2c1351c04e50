"""Restarting the PostgreSQL server under a chaos run (`--restart-database`): every process loses every
connection at once, mid-job, and must carry on when the server is back.

The run is given a database URL, not a server: it restarts it with `--database-restart-cmd` (any shell
command that returns once the server accepts connections again: `systemctl restart postgresql`,
`docker restart pg`, …) or, without one, a server on this machine whose data directory it can reach —
the throwaway clusters of `scripts/postgres-up.sh` and of the test suite — with `pg_ctl stop -m fast`
(an immediate stop when the fast one hangs) and `pg_ctl start`. Anything else is refused before the run
starts, naming what was missing.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from orderbridge.store.procrastinate_schema import libpq_conninfo

RESTART_TIMEOUT_S = 120
FAST_STOP_S = 10
LOCAL_HOSTS = frozenset({"", "localhost", "127.0.0.1", "::1"})


class CannotRestartDatabase(RuntimeError):
    """The run was asked to restart a database server it has no way to restart."""


@dataclass(frozen=True)
class DatabaseRestart:
    """How to restart the server: a shell command, or `pg_ctl` (`pg_ctl` holds the command line up to
    and including `-D DATADIR`)."""

    shell_command: str | None = None
    pg_ctl: tuple[str, ...] = ()

    def describe(self) -> str:
        return self.shell_command or " ".join((*self.pg_ctl, "restart"))

    def run(self, log_path: Path) -> float:
        """Restart the server; output appended to `log_path`. Returns the seconds it took."""
        started = time.perf_counter()
        if self.shell_command is not None:
            self._step(self.shell_command, log_path)
            return time.perf_counter() - started
        # A fast shutdown (connections cut, a checkpoint) — but the postmaster also waits for every
        # connection still in its start-up, and one that never sent its start-up packet holds it for
        # `authentication_timeout` (60 s, seen in a run); past FAST_STOP_S, stop at once instead.
        fast = (*self.pg_ctl, "-m", "fast", "-w", "-t", str(FAST_STOP_S), "stop")
        if self._step(fast, log_path, check=False) != 0:
            self._step((*self.pg_ctl, "-m", "immediate", "-w", "stop"), log_path)
        data_dir = self.pg_ctl[self.pg_ctl.index("-D") + 1]
        # `-l`: the server's output goes to a file in its own directory, not to our pipes.
        self._step((*self.pg_ctl, "-l", f"{data_dir}/server.log", "-w", "-t", "60", "start"), log_path)
        return time.perf_counter() - started

    def _step(self, command: str | tuple[str, ...], log_path: Path, *, check: bool = True) -> int:
        with log_path.open("ab") as log:
            # A file, never a pipe: a server started by pg_ctl would keep a pipe open and hang the read.
            done = subprocess.run(
                command if isinstance(command, str) else list(command),
                shell=isinstance(command, str),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=RESTART_TIMEOUT_S,
                check=False,
            )
        if check and done.returncode != 0:
            tail = log_path.read_text(errors="replace")[-2000:]
            shown = command if isinstance(command, str) else " ".join(command)
            raise CannotRestartDatabase(
                f"restarting the database ({shown}) exited with {done.returncode}:\n{tail}"
            )
        return done.returncode


def database_restart(database_url: str | None, command: str | None) -> DatabaseRestart:
    """How this run restarts its database: `command` if given, else `pg_ctl` on the local server's data
    directory. Raises `CannotRestartDatabase` saying why neither applies."""
    if command:
        return DatabaseRestart(shell_command=command)
    if not database_url or not database_url.startswith("postgres"):
        raise CannotRestartDatabase("--restart-database needs a PostgreSQL --database (SQLite has no server)")
    host = make_url(database_url).host or ""
    if host not in LOCAL_HOSTS and not host.startswith("/"):
        raise CannotRestartDatabase(
            f"the database server at {host} is not on this machine: give --database-restart-cmd"
        )
    data_dir, bindir = _server_paths(database_url)
    return DatabaseRestart(pg_ctl=_pg_ctl(data_dir, bindir))


def _server_paths(database_url: str) -> tuple[Path, Path | None]:
    """The server's data directory, and its binaries' directory when the server tells it."""
    try:
        with psycopg.connect(libpq_conninfo(database_url), connect_timeout=10) as conn:
            data = conn.execute("SHOW data_directory").fetchone()
            bindir = conn.execute("SELECT setting FROM pg_config WHERE name = 'BINDIR'").fetchone()
    except psycopg.Error as error:
        raise CannotRestartDatabase(
            "cannot ask the database server where its data directory is (a superuser may: "
            f"{type(error).__name__}): give --database-restart-cmd"
        ) from None
    if data is None or not Path(str(data[0]), "PG_VERSION").exists():
        where = data[0] if data else "?"
        raise CannotRestartDatabase(
            f"the server's data directory {where} is not reachable from here: give --database-restart-cmd"
        )
    return Path(str(data[0])), Path(str(bindir[0])) if bindir else None


def _pg_ctl(data_dir: Path, bindir: Path | None) -> tuple[str, ...]:
    pg_ctl = bindir / "pg_ctl" if bindir is not None and (bindir / "pg_ctl").exists() else None
    found = str(pg_ctl) if pg_ctl is not None else shutil.which("pg_ctl")
    if found is None:
        raise CannotRestartDatabase(
            "pg_ctl not found (not in the server's BINDIR nor on PATH): give --database-restart-cmd"
        )
    owner = data_dir.stat().st_uid
    argv: tuple[str, ...] = (found, "-D", str(data_dir))
    if owner == os.geteuid():
        return argv
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: as the data directory's owner
        return ("runuser", "-u", pwd.getpwuid(owner).pw_name, "--", *argv)
    raise CannotRestartDatabase(
        f"the data directory {data_dir} belongs to another user: give --database-restart-cmd"
    )
