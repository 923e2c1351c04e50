"""Moment 1 at volume: orderbridge against the seed guide's one-loop integration, same VTEX conditions.

    .venv/bin/python bench/pipeline.py            # 3000 orders for orderbridge, 100 for the baseline
    .venv/bin/python bench/pipeline.py --orders 500 --baseline-orders 50 --workers 128
    .venv/bin/python bench/pipeline.py --py-spy /tmp/pipeline.txt   # also profile the pipeline process
    .venv/bin/python bench/pipeline.py --cprofile /tmp/pipeline.prof  # deterministic profile (slower)

Each side gets a fresh `orderbridge sandbox` process with every order already waiting in the feed,
50 ms latency on every VTEX call and VTEX's 6000/min limit on Get order (429 + Retry-After beyond it).
(a) orderbridge runs as its own process (`orderbridge run --config`, simulated warehouse that only
accepts): download → handover → start-handling → commit. (b) the baseline, written like the seed
guide: one loop — read the feed, get each order, hand it over, start handling, commit. Rates compare
even though the slow baseline runs on a smaller sample. Done = every order started at VTEX (the
sandbox's stats) and the feed empty. CPU and peak RSS are the pipeline process's own, from /proc.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
from _common import ACCOUNT, APP_KEY, APP_TOKEN, start_pipeline, stop_pipeline, usage_of

from orderbridge.config import Settings
from orderbridge.core.orders import OrderSnapshot
from orderbridge.erp.port import HandoverOrder
from orderbridge.erp.warehouse import SimulatedWarehouse, WarehouseSettings
from orderbridge.pipeline.mapping import order_to_snapshot
from orderbridge.sandbox.testing import sandbox_subprocess
from orderbridge.vtex import Order

HEADERS = {"X-VTEX-API-AppKey": APP_KEY, "X-VTEX-API-AppToken": APP_TOKEN, "Accept": "application/json"}


def vtex_conditions(latency_ms: int, get_order_per_minute: int) -> dict[str, Any]:
    """The `/_sandbox/faults` body: latency everywhere, VTEX's Get order quota."""
    return {
        "latency_ms": latency_ms,
        # Counted over 1 s windows: "6000/min" as a steady 100/s that binds (a 60 s window would let
        # the whole run through as one burst and measure nothing about the limit).
        "endpoints": {"get_order": {"rate_limit_per_minute": get_order_per_minute, "rate_limit_window_s": 1}},
    }


@contextlib.contextmanager
def vtex(orders: int, args: argparse.Namespace) -> Iterator[httpx2.Client]:
    """A sandbox process with `orders` waiting in the feed, under the bench's conditions."""
    with (
        sandbox_subprocess(
            orders,
            account_name=ACCOUNT,
            app_key=APP_KEY,
            app_token=APP_TOKEN,
            latency_ms=args.latency_ms,
            startup_timeout_s=120.0,
        ) as base_url,
        httpx2.Client(base_url=base_url, timeout=30.0) as admin,
    ):
        conditions = vtex_conditions(args.latency_ms, args.get_order_per_minute)
        admin.put("/_sandbox/faults", json=conditions).raise_for_status()
        yield admin


def started_and_depth(admin: httpx2.Client) -> tuple[int, int, dict[str, Any]]:
    stats: dict[str, Any] = admin.get("/_sandbox/stats").json()
    started = sum(1 for n in stats["start_handling"].values() if n > 0)
    return started, int(stats["feed_depth"]), stats


# -- (a) orderbridge ---------------------------------------------------------------------------------


def write_config(workdir: Path, base_url: str, args: argparse.Namespace) -> Path:
    path = workdir / "orderbridge.toml"
    path.write_text(
        f"""
database_url = "sqlite:///{workdir / "orderbridge.db"}"
workers = {args.workers}
reconcile_interval_s = 3600
log_level = "warning"

[[accounts]]
name = "{ACCOUNT}"
base_url = "{base_url}"
pollers = {args.pollers}

[erp]
adapter = "warehouse"

[erp.warehouse]
database = "{workdir / "warehouse.db"}"
fulfil = false
self_cancel_ratio = 0.0

[api]
enabled = false
"""
    )
    return path


@dataclass
class OrderbridgeResult:
    orders: int
    elapsed_s: float
    work_s: float
    cpu_total_s: float
    cpu_work_s: float
    sys_work_s: float
    peak_rss_mb: float
    get_order_429: int

    @property
    def rate(self) -> float:
        return self.orders / self.work_s


def run_orderbridge(args: argparse.Namespace, workdir: Path) -> OrderbridgeResult:
    with vtex(args.orders, args) as admin:
        config = write_config(workdir, str(admin.base_url).rstrip("/"), args)
        launched = time.perf_counter()
        profile = ["-m", "cProfile", "-o", args.cprofile] if args.cprofile else []
        env = {"ORDERBRIDGE_LOG_LEVEL": "warning"}
        process = start_pipeline(config, workdir / "pipeline.log", env, profile)
        profiler = start_py_spy(process.pid, args.py_spy)
        try:
            return _watch(process, admin, args, launched)
        finally:
            stop_pipeline(process)
            if profiler is not None:
                profiler.wait(timeout=60)


def _watch(
    process: subprocess.Popen[bytes], admin: httpx2.Client, args: argparse.Namespace, launched: float
) -> OrderbridgeResult:
    first_at: float | None = None
    cpu_at_first = sys_at_first = 0.0
    deadline = launched + args.timeout_s
    while True:
        if process.poll() is not None:
            raise SystemExit(f"the pipeline exited with {process.returncode}; see its log")
        started, depth, stats = started_and_depth(admin)
        now = time.perf_counter()
        if first_at is None and started > 0:
            first = usage_of(process.pid)
            first_at, cpu_at_first, sys_at_first = now, first.cpu_s, first.sys_s
        if started >= args.orders and depth == 0:
            usage = usage_of(process.pid)
            break
        if now > deadline:
            raise SystemExit(f"timeout: {started}/{args.orders} started, feed depth {depth}")
        time.sleep(0.2)
    assert first_at is not None
    return OrderbridgeResult(
        orders=args.orders,
        elapsed_s=now - launched,
        work_s=now - first_at,
        cpu_total_s=usage.cpu_s,
        cpu_work_s=usage.cpu_s - cpu_at_first,
        sys_work_s=usage.sys_s - sys_at_first,
        peak_rss_mb=usage.peak_rss_mb,
        get_order_429=int(stats["calls"].get("get_order", {}).get("429", 0)),
    )


def start_py_spy(pid: int, output: str | None) -> subprocess.Popen[bytes] | None:
    if not output:
        return None
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    # --gil: only samples holding the GIL, i.e. Python actually running (threads blocked in a queue's
    # get would otherwise show up as busy).
    command = [
        py_spy,
        "record",
        "--pid",
        str(pid),
        "--format",
        "raw",
        "--rate",
        "200",
        "--gil",
        "--nonblocking",
        "-o",
        output,
    ]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# -- (b) the baseline, as the seed guide writes it ------------------------------------------------------


async def seed_guide_loop(base_url: str, orders: int, workdir: Path) -> float:
    """One loop, one thing at a time: read the feed, get each order, hand it over, start handling,
    commit. Returns the elapsed seconds until `orders` orders were started."""
    erp = SimulatedWarehouse(workdir / "baseline-warehouse.db", WarehouseSettings(fulfil=False))
    await erp.start(_NoSink())
    started = 0
    began = time.perf_counter()
    async with httpx2.AsyncClient(base_url=base_url, headers=HEADERS, timeout=30.0) as http:
        while started < orders:
            items = (await _call(http, "GET", "/api/orders/feed", params={"maxlot": 10})).json()
            for item in items:
                if item["state"] != "ready-for-handling":
                    continue
                doc = (await _call(http, "GET", f"/api/oms/pvt/orders/{item['orderId']}")).json()
                snapshot: OrderSnapshot = order_to_snapshot(Order.model_validate(doc))
                await erp.hand_over(HandoverOrder(ACCOUNT, item["orderId"], snapshot, doc))
                await _call(http, "POST", f"/api/oms/pvt/orders/{item['orderId']}/start-handling")
                started += 1
            if items:
                await _call(http, "POST", "/api/orders/feed", json={"handles": [i["handle"] for i in items]})
    elapsed = time.perf_counter() - began
    await erp.stop()
    return elapsed


async def _call(http: httpx2.AsyncClient, method: str, path: str, **kwargs: Any) -> httpx2.Response:
    """The guide's one courtesy: on 429, wait Retry-After and try again."""
    while True:
        response = await http.request(method, path, **kwargs)
        if response.status_code != 429:
            response.raise_for_status()
            return response
        await asyncio.sleep(float(response.headers.get("Retry-After", "1")))


class _NoSink:
    """The baseline's warehouse only accepts orders; it never sends commands back."""

    async def submit(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    async def report_acceptance(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError

    async def current_order(self, *args: Any, **kwargs: Any) -> Any:
        return None


def run_baseline(args: argparse.Namespace, workdir: Path) -> float:
    with vtex(args.baseline_orders, args) as admin:
        elapsed = asyncio.run(seed_guide_loop(str(admin.base_url).rstrip("/"), args.baseline_orders, workdir))
        started, _, _ = started_and_depth(admin)
        assert started == args.baseline_orders, f"baseline started {started}"
    return float(args.baseline_orders / elapsed)


# -- report -----------------------------------------------------------------------------------------


def report(ob: OrderbridgeResult, baseline_rate: float, args: argparse.Namespace) -> None:
    per_order_ms = 1000 * ob.cpu_work_s / ob.orders
    lines = [
        f"conditions: {args.latency_ms} ms latency per call, Get order {args.get_order_per_minute}/min,"
        f" orderbridge workers={args.workers} pollers={args.pollers}",
        f"orderbridge : {ob.rate:7.1f} orders/s  ({ob.orders} orders in {ob.work_s:.1f} s of work;"
        f" {ob.elapsed_s:.1f} s from launch; Get order 429s: {ob.get_order_429})",
        f"baseline    : {baseline_rate:7.1f} orders/s  ({args.baseline_orders} orders, seed guide's loop)",
        f"ratio       : {ob.rate / baseline_rate:7.1f} x",
        f"cpu/order   : {per_order_ms:7.2f} ms  (pipeline process while working;"
        f" {1000 * ob.cpu_total_s / ob.orders:.2f} ms including start-up;"
        f" of which in the kernel: {1000 * ob.sys_work_s / ob.orders:.2f} ms)",
        f"peak RSS    : {ob.peak_rss_mb:7.1f} MB",
        "targets     : >= 80 orders/s, >= 10 x baseline, <= 2 ms CPU per order  ->  "
        + ", ".join(
            [
                "rate " + ("OK" if ob.rate >= 80 else "MISSED"),
                "ratio " + ("OK" if ob.rate >= 10 * baseline_rate else "MISSED"),
                "cpu " + ("OK" if per_order_ms <= 2 else "MISSED"),
            ]
        ),
    ]
    print("\n".join(lines))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=3000, help="orders waiting for orderbridge")
    parser.add_argument("--baseline-orders", type=int, default=100, help="orders for the baseline loop")
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--get-order-per-minute", type=int, default=6000)
    defaults = Settings.model_fields  # orderbridge's own defaults, so the bench measures what users get
    parser.add_argument("--workers", type=int, default=defaults["workers"].default, help="job workers")
    parser.add_argument("--pollers", type=int, default=4, help="orderbridge feed pollers")
    parser.add_argument("--timeout-s", type=float, default=600.0)
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--py-spy", metavar="FILE", help="record a raw py-spy profile of the pipeline")
    parser.add_argument("--cprofile", metavar="FILE", help="run the pipeline under cProfile, stats to FILE")
    parser.add_argument("--workdir", type=Path, help="keep databases and the pipeline's log here")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    with contextlib.ExitStack() as stack:
        workdir = args.workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
        workdir.mkdir(parents=True, exist_ok=True)
        result = run_orderbridge(args, workdir)
        baseline = float("nan") if args.skip_baseline else run_baseline(args, workdir)
        report(result, baseline, args)


if __name__ == "__main__":
    main()
