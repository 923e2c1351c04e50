"""What `orderbridge status` shows of a PostgreSQL cluster: procrastinate's workers (host, pid, last
heartbeat, jobs running) and which process runs each once-per-cluster loop (`pipeline.singletons`).

Read from PostgreSQL's own views: a loop's holder is the session holding its advisory lock
(`pg_locks`), named `orderbridge-singletons-<pid>` (`pg_stat_activity.application_name`), its host the
session's client address. A loop no session holds is listed as not running (every process that could
run it is gone, or it is between two holders).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from orderbridge.store.procrastinate_schema import WORKERS_TABLE

from .singletons import APPLICATION_NAME, LOCK_NAMESPACE

#: The ERP adapters that have a way-back loop (`erp:NAME`).
WAY_BACK_ADAPTERS = ("files", "staging", "warehouse")

_WORKERS = text(
    f"""
    SELECT w.id, w.last_heartbeat, o.host, o.pid,
           (SELECT count(*) FROM procrastinate_jobs j WHERE j.worker_id = w.id AND j.status = 'doing')
    FROM procrastinate_workers w LEFT JOIN {WORKERS_TABLE} o ON o.worker_id = w.id ORDER BY w.id
    """
)

_HOLDERS = text(
    """
    SELECT l.objid::bigint, a.application_name, host(a.client_addr)
    FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND l.granted AND l.classid = :namespace AND l.objsubid = 2
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
    """
)


def loop_names(accounts: Iterable[str]) -> list[str]:
    names = [f"{kind}:{account}" for account in accounts for kind in ("feed", "reconcile")]
    return names + [f"erp:{adapter}" for adapter in WAY_BACK_ADAPTERS]


def cluster_status(conn: Connection, accounts: Iterable[str]) -> dict[str, Any]:
    """{"workers": [...], "loops": {name: {"pid", "host"} or None}}; PostgreSQL only."""
    workers = [
        {
            "id": int(wid),
            "host": host,
            "pid": int(pid) if pid is not None else None,
            "last_heartbeat": beat.isoformat(),
            "jobs_running": int(running),
        }
        for wid, beat, host, pid, running in conn.execute(_WORKERS).all()
    ]
    holders = {
        int(key) & 0xFFFFFFFF: (str(name or ""), host)
        for key, name, host in conn.execute(_HOLDERS, {"namespace": LOCK_NAMESPACE}).all()
    }
    loops: dict[str, Any] = {}
    for name in loop_names(accounts):
        key = int(conn.execute(text("SELECT hashtext(:name)"), {"name": name}).scalar_one()) & 0xFFFFFFFF
        holder = holders.get(key)
        if holder is None:
            if not name.startswith("erp:"):  # an adapter this cluster does not use holds no lock
                loops[name] = None
            continue
        application, host = holder
        pid = application.removeprefix(APPLICATION_NAME) if application.startswith(APPLICATION_NAME) else None
        loops[name] = {"pid": int(pid) if pid and pid.isdigit() else None, "host": host or "local"}
    return {"workers": workers, "loops": loops}
