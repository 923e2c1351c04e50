"""Issue 14, item 11: what `orderbridge run` writes holds customers' personal data (names, addresses,
documents), so it is readable by the service's user only — files 0600, directories 0700 — whatever
umask the process was started with (a shell's usual 022 would make them world-readable)."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import httpx2

from pipeline.conftest import APP_KEY, APP_TOKEN

from .service_process import FILES, running_service


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def wait_for(paths: list[Path], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not all(p.exists() for p in paths):
        assert time.monotonic() < deadline, f"not created: {[str(p) for p in paths if not p.exists()]}"
        time.sleep(0.05)


def wait_for_feed(sandbox_url: str, timeout_s: float = 30) -> None:
    headers = {"X-VTEX-API-AppKey": APP_KEY, "X-VTEX-API-AppToken": APP_TOKEN}
    deadline = time.monotonic() + timeout_s
    while httpx2.get(f"{sandbox_url}/api/orders/feed/config", headers=headers).status_code != 200:
        assert time.monotonic() < deadline, "the service did not configure the feed"
        time.sleep(0.05)


def test_databases_and_their_wal_are_private_to_the_service_user(tmp_path: Path) -> None:
    with running_service(tmp_path, umask=0o022) as service:
        files = [service.directory / name for name in ("ob.db", "ob.db-wal", "wh.db")]
        wait_for(files)
        modes = {path.name: oct(mode(path)) for path in files}
    assert modes == {name: oct(0o600) for name in modes}


def test_the_files_adapters_outbox_and_its_orders_are_private(tmp_path: Path) -> None:
    with running_service(tmp_path, umask=0o022, erp=FILES) as service:
        wait_for_feed(service.sandbox_url)  # an order created before that would announce itself to nobody
        httpx2.post(f"{service.sandbox_url}/_sandbox/orders", json={"count": 1}).raise_for_status()
        outbox = service.directory / "erp" / "outbox"
        deadline = time.monotonic() + 30
        while not (outbox.exists() and any(outbox.glob("*.json"))):
            assert time.monotonic() < deadline, "no order handed over to the outbox"
            time.sleep(0.05)
        orders = list(outbox.glob("*.json"))
        folders = [outbox, service.directory / "erp" / "inbox", service.directory / "erp"]
        assert {oct(mode(p)) for p in orders} == {oct(0o600)}
        assert {oct(mode(p)) for p in folders} == {oct(0o700)}
