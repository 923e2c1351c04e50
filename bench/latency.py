"""How long an order waits: from ready-for-handling at VTEX to its handover to the ERP, at steady rates.

    .venv/bin/python bench/latency.py                              # 2, 20, 40, 60 orders/s, 30 s each
    .venv/bin/python bench/latency.py --rates 2,20 --seconds 5     # a short look
    .venv/bin/python bench/latency.py --intakes hook --workers 32   # compare settings

For each intake (`hook`, `feed`) and each rate, a fresh `orderbridge sandbox` process (50 ms latency on
every VTEX call) and a fresh pipeline process (`orderbridge run --config`, the service's DEFAULT settings
unless `--workers` says otherwise; the `webhook` ERP adapter). The ERP is a small
receiver in this process that checks each delivery's signature, answers "accepted" at once and notes
when each order arrived. After a few warm-up orders (not counted), the bench creates one
ready-for-handling order at a time at the sandbox, at the steady rate, for `--seconds`; then waits until
every order has reached the ERP and been started at VTEX.

Per intake and rate it prints the p50/p95/p99/max of
- ready → handover: the receiver's arrival time minus the time the order became ready-for-handling at
  the sandbox (`ready_at` of `/_sandbox/ledger`);
- ready → start-handling: the sandbox's time of the accepted start-handling (`started_at`) minus the same;
and the pipeline process's CPU (user + system, from /proc) per order, from the first order of the rate
to the last one started (idle work between orders included: it is what the rate costs; the idle CPU,
measured for `--idle-s` before the orders, is printed beside it, as it weighs on each order at a low
rate). /proc counts CPU in 10 ms ticks: a short run at a low rate gives coarse CPU figures.
The sandbox, the pipeline and this process run on one machine, so wall-clock times (`time.time()`)
compare; the sandbox's clock is wall time plus the offset of `/_sandbox/clock/advance`, which the bench
never moves (it subtracts it anyway).

Hooks: the sandbox sends due hook notifications from a 100 ms ticker, which alone would add 0-100 ms to
every hook-intake order; VTEX's own delay is unknown. The bench asks the sandbox to deliver right after it
creates each order (`POST /_sandbox/hooks/deliver`), so the figures are the pipeline's;
`--sandbox-hook-tick` leaves deliveries to the ticker. Each delivery leaves as soon as it is due, without
waiting for the answers to earlier ones (the pipeline answers a hook once it has stored it).

Targets (issue 11), with the defaults: ready → handover p99 <= 300 ms with hooks at every rate, and
<= 4 ms CPU per order. On a loaded machine the figures are noisy: compare runs made side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from _common import ACCOUNT, APP_KEY, APP_TOKEN, start_pipeline, stop_pipeline, usage_of
from aiohttp import web

from orderbridge.config import Settings
from orderbridge.erp.webhook import EVENT_HEADER, SIGNATURE_HEADER, verify_signature
from orderbridge.sandbox.testing import free_port, sandbox_subprocess

VTEX_HEADERS = {"X-VTEX-API-AppKey": APP_KEY, "X-VTEX-API-AppToken": APP_TOKEN}
ERP_SECRET = "bench-erp-signing-secret"
HOOK_SECRET = "bench-hook-secret"
TARGET_HOOK_P99_MS = 300.0
TARGET_CPU_MS = 4.0
DEFAULTS = Settings.model_fields  # the service's own defaults, so the bench measures what users get


# -- the ERP ----------------------------------------------------------------------------------------


@dataclass
class Receiver:
    """The webhook ERP: checks the signature, accepts every order at once, notes when each first arrived."""

    arrived: dict[str, float] = field(default_factory=dict)
    repeats: int = 0
    bad_signatures: int = 0
    other_events: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        now = time.time()  # before reading the body: the moment the handover reached the ERP
        body = await request.read()
        if not verify_signature(ERP_SECRET, body, request.headers.get(SIGNATURE_HEADER)):
            self.bad_signatures += 1
            return web.json_response({"error": "bad signature"}, status=401)
        if request.headers.get(EVENT_HEADER) != "order":
            self.other_events += 1
            return web.json_response({})
        order_id = str(orjson.loads(body)["orderId"])
        if order_id in self.arrived:
            self.repeats += 1  # a retried delivery: answered like the first, timed from the first
        else:
            self.arrived[order_id] = now
        return web.json_response({"erpReference": f"SO-{order_id}"})


@contextlib.asynccontextmanager
async def serving(receiver: Receiver) -> AsyncIterator[str]:
    """The receiver on 127.0.0.1, in this process's event loop; yields its URL."""
    app = web.Application()
    app.router.add_post("/erp", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/erp"
    finally:
        await runner.cleanup()


# -- the pipeline ---------------------------------------------------------------------------------


def write_config(workdir: Path, vtex_url: str, erp_url: str, intake: str, args: argparse.Namespace) -> Path:
    """Only what this setup needs (where things are, the intake, the webhook ERP); every tuning key is
    the service's default unless a flag asks for another value."""
    api_port = free_port()
    tuning = f"workers = {args.workers}\n" if args.workers is not None else ""
    hook = f'hook_url = "http://127.0.0.1:{api_port}/hooks/vtex/{ACCOUNT}"\n' if intake == "hook" else ""
    path = workdir / "orderbridge.toml"
    path.write_text(
        f"""database_url = "sqlite+aiosqlite:///{workdir / "orderbridge.db"}"
{tuning}
[[accounts]]
name = "{ACCOUNT}"
base_url = "{vtex_url}"
intake = "{intake}"
{hook}
[erp]
adapter = "webhook"

[erp.webhook]
url = "{erp_url}"

[api]
port = {api_port}
"""
    )
    return path


@contextlib.contextmanager
def pipeline(config: Path, workdir: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = {"VTEX_HOOK_SECRET": HOOK_SECRET, "ORDERBRIDGE_ERP_WEBHOOK_SECRET": ERP_SECRET}
    process = start_pipeline(config, workdir / "pipeline.log", env)
    try:
        yield process
    finally:
        stop_pipeline(process)


# -- the sandbox --------------------------------------------------------------------------------


@dataclass
class Sandbox:
    http: aiohttp.ClientSession
    base_url: str
    push_hooks: bool
    _pushes: set[asyncio.Task[None]] = field(default_factory=set)

    async def json(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        async with self.http.request(method, self.base_url + path, json=body, **kwargs) as answer:
            answer.raise_for_status()
            return await answer.json()

    async def create_order(self) -> str:
        """One generated order, ready-for-handling at once (no grace period), and its hook sent now."""
        created = await self.json("POST", "/_sandbox/orders", {"count": 1})
        if self.push_hooks:
            task = asyncio.create_task(self._deliver_hooks())
            self._pushes.add(task)
            task.add_done_callback(self._pushes.discard)
        return str(created["orderIds"][0])

    async def _deliver_hooks(self) -> None:
        await self.json("POST", "/_sandbox/hooks/deliver")

    async def pushed(self) -> None:
        await asyncio.gather(*self._pushes)

    async def configured(self, intake: str) -> bool:
        """The pipeline has set up its hook (or feed) at VTEX: orders from now on reach it."""
        path = "/api/orders/hook/config" if intake == "hook" else "/api/orders/feed/config"
        async with self.http.get(self.base_url + path, headers=VTEX_HEADERS) as answer:
            return answer.status == 200

    async def ledger(self) -> dict[str, Any]:
        orders: dict[str, Any] = (await self.json("GET", "/_sandbox/ledger"))["orders"]
        return orders

    async def clock_offset_s(self) -> float:
        return float((await self.json("GET", "/_sandbox/clock"))["offset_s"])


# -- one rate ---------------------------------------------------------------------------------------


@dataclass
class RateResult:
    intake: str
    rate: float
    orders: int
    achieved_rate: float
    handover_ms: list[float]
    start_ms: list[float]
    cpu_ms_per_order: float
    missing: int
    repeats: int
    bad_signatures: int
    idle_ms_per_s: float = math.nan


async def wait_for(
    condition: Callable[[], Awaitable[bool]], timeout_s: float, what: str, every_s: float = 0.1
) -> None:
    deadline = time.monotonic() + timeout_s
    while not await condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timeout: {what}")
        await asyncio.sleep(every_s)


async def create_steadily(sandbox: Sandbox, rate: float, count: int) -> tuple[list[str], float]:
    """`count` orders, the n-th at `n / rate` s from the first (a slow call delays only its own order);
    returns their ids and the rate achieved."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    ids = []
    for n in range(count):
        delay = began + n / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        ids.append(await sandbox.create_order())
    elapsed = loop.time() - began
    return ids, (count - 1) / elapsed if count > 1 and elapsed > 0 else rate


async def settled(sandbox: Sandbox, receiver: Receiver, ids: list[str], timeout_s: float) -> dict[str, Any]:
    """Wait until every order reached the ERP and was started at VTEX (or the timeout); the ledger."""
    deadline = time.monotonic() + timeout_s
    while True:
        # The ledger (every order of the sandbox) is read only once the ERP has them all.
        if all(i in receiver.arrived for i in ids) or time.monotonic() > deadline:
            ledger = await sandbox.ledger()
            done = all((ledger.get(i) or {}).get("started_at") is not None for i in ids)
            if done or time.monotonic() > deadline:
                return ledger
        await asyncio.sleep(0.1)


async def measure_rate(intake: str, rate: float, args: argparse.Namespace, workdir: Path) -> RateResult:
    workdir = workdir / f"{intake}-{rate:g}"  # a fresh pipeline database for each run
    if workdir.exists():
        raise SystemExit(f"{workdir} exists: give --workdir a new or empty folder")
    workdir.mkdir()
    with sandbox_subprocess(
        account_name=ACCOUNT,
        app_key=APP_KEY,
        app_token=APP_TOKEN,
        latency_ms=args.latency_ms,
        startup_timeout_s=120.0,
    ) as vtex_url:
        receiver = Receiver()
        async with serving(receiver) as erp_url, aiohttp.ClientSession() as http:
            sandbox = Sandbox(http, vtex_url, push_hooks=intake == "hook" and not args.sandbox_hook_tick)
            config = write_config(workdir, vtex_url, erp_url, intake, args)
            with pipeline(config, workdir) as process:
                await wait_for(lambda: sandbox.configured(intake), 60, f"the pipeline's {intake} at VTEX")
                await warm_up(sandbox, receiver, args.warmup)
                idle_ms_per_s = await idle_cpu(process.pid, args.idle_s)
                before = usage_of(process.pid)
                ids, achieved = await create_steadily(sandbox, rate, max(1, round(rate * args.seconds)))
                await sandbox.pushed()
                ledger = await settled(sandbox, receiver, ids, args.drain_timeout_s)
                after = usage_of(process.pid)
                if process.poll() is not None:
                    raise SystemExit(f"the pipeline exited with {process.returncode}; see {workdir}")
            offset_s = await sandbox.clock_offset_s()
            stats = await sandbox.json("GET", "/_sandbox/stats")
            (workdir / "sandbox-stats.json").write_bytes(orjson.dumps(stats, option=orjson.OPT_INDENT_2))
    result = summarise(intake, rate, ids, achieved, ledger, receiver, offset_s, after.cpu_s - before.cpu_s)
    result.idle_ms_per_s = idle_ms_per_s
    return result


async def idle_cpu(pid: int, seconds: float) -> float:
    """The pipeline's CPU with no order coming (feed polls, timers), in ms per second: part of every
    order's CPU at a low rate."""
    await asyncio.sleep(1.0)  # the warm-up's last writes
    before = usage_of(pid).cpu_s
    await asyncio.sleep(seconds)
    return 1000 * (usage_of(pid).cpu_s - before) / seconds


async def warm_up(sandbox: Sandbox, receiver: Receiver, count: int) -> None:
    """A few orders end to end before measuring: connections open, first-call costs paid."""
    ids = [await sandbox.create_order() for _ in range(count)]
    await sandbox.pushed()

    async def all_arrived() -> bool:
        return all(i in receiver.arrived for i in ids)

    await wait_for(all_arrived, 60, "warm-up orders at the ERP")


def summarise(
    intake: str,
    rate: float,
    ids: list[str],
    achieved: float,
    ledger: dict[str, Any],
    receiver: Receiver,
    offset_s: float,
    cpu_s: float,
) -> RateResult:
    handover, start = [], []
    missing = 0
    for order_id in ids:
        row = ledger.get(order_id) or {}
        ready, started, arrived = row.get("ready_at"), row.get("started_at"), receiver.arrived.get(order_id)
        if ready is None or started is None or arrived is None:
            missing += 1
            continue
        handover.append(1000 * (arrived - (ready - offset_s)))
        start.append(1000 * (started - ready))
    return RateResult(
        intake=intake,
        rate=rate,
        orders=len(ids),
        achieved_rate=achieved,
        handover_ms=handover,
        start_ms=start,
        cpu_ms_per_order=1000 * cpu_s / len(ids),
        missing=missing,
        repeats=receiver.repeats,
        bad_signatures=receiver.bad_signatures,
    )


# -- report -----------------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    """Nearest rank: the smallest value with at least p % of the values at or below it."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def spread(values: list[float]) -> str:
    return " ".join(f"{percentile(values, p):6.0f}" for p in (50, 95, 99, 100))


def report(results: list[RateResult], args: argparse.Namespace) -> None:
    workers = args.workers if args.workers is not None else DEFAULTS["workers"].default
    hooks = "the sandbox's 100 ms ticker" if args.sandbox_hook_tick else "pushed as each order is created"
    print(
        f"conditions: {args.latency_ms} ms latency on every VTEX call, webhook ERP answering at once,"
        f" workers={workers}{'' if args.workers is None else ' (not the default)'};"
        f" hooks {hooks}; {args.seconds:g} s per rate"
    )
    print(" " * 28 + "| ready → handover (ms)       | ready → start-handling (ms) |    CPU   idle CPU")
    print("intake  rate/s (got)  orders |" + "    p50    p95    p99    max |" * 2 + "  ms/order    ms/s")
    for r in results:
        notes = [f"{r.missing} not settled"] if r.missing else []
        notes += [f"{r.repeats} repeated deliveries"] if r.repeats else []
        notes += [f"{r.bad_signatures} refused signatures"] if r.bad_signatures else []
        print(
            f"{r.intake:<6} {r.rate:6g} ({r.achieved_rate:5.1f}) {r.orders:6d} | {spread(r.handover_ms)} |"
            f" {spread(r.start_ms)} | {r.cpu_ms_per_order:9.2f} {r.idle_ms_per_s:7.1f}"
            + (f"  ({'; '.join(notes)})" if notes else "")
        )
    print(verdict(results))


def verdict(results: list[RateResult]) -> str:
    hooked = [r for r in results if r.intake == "hook"]
    late = [f"{r.rate:g}/s: {percentile(r.handover_ms, 99):.0f} ms" for r in hooked if not _fast(r)]
    costly = [f"{r.intake} {r.rate:g}/s: {r.cpu_ms_per_order:.2f} ms" for r in results if not _cheap(r)]
    latency = (
        "not measured (no hook run)" if not hooked else ("OK" if not late else "MISSED at " + ", ".join(late))
    )
    cpu = "OK" if not costly else "MISSED at " + ", ".join(costly)
    return (
        f"targets: ready→handover p99 <= {TARGET_HOOK_P99_MS:.0f} ms with hooks at every rate -> {latency};"
        f" <= {TARGET_CPU_MS:.0f} ms CPU per order -> {cpu}"
    )


def _fast(result: RateResult) -> bool:
    return result.missing == 0 and percentile(result.handover_ms, 99) <= TARGET_HOOK_P99_MS


def _cheap(result: RateResult) -> bool:
    return result.cpu_ms_per_order <= TARGET_CPU_MS


# -- main -------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rates", default="2,20,40,60", help="orders/s, comma-separated")
    parser.add_argument("--seconds", type=float, default=30.0, help="seconds of orders at each rate")
    parser.add_argument("--intakes", default="hook,feed", help="hook, feed or both, comma-separated")
    parser.add_argument("--latency-ms", type=int, default=50, help="latency of every VTEX call")
    parser.add_argument("--workers", type=int, help="job workers (default: the service's)")
    parser.add_argument("--warmup", type=int, default=5, help="orders end to end before measuring")
    parser.add_argument("--idle-s", type=float, default=3.0, help="seconds of idle CPU measured first")
    parser.add_argument("--drain-timeout-s", type=float, default=120.0, help="wait for the last orders")
    parser.add_argument(
        "--sandbox-hook-tick", action="store_true", help="leave hook deliveries to the sandbox's ticker"
    )
    parser.add_argument("--workdir", type=Path, help="keep databases, logs, sandbox stats here")
    args = parser.parse_args()
    args.rate_list = [float(r) for r in args.rates.split(",") if r.strip()]
    args.intake_list = [i.strip() for i in args.intakes.split(",") if i.strip()]
    if not args.rate_list or any(r <= 0 for r in args.rate_list):
        parser.error("--rates: positive numbers")
    if any(i not in ("hook", "feed") for i in args.intake_list):
        parser.error("--intakes: hook and/or feed")
    return args


async def run(args: argparse.Namespace, workdir: Path) -> list[RateResult]:
    results = []
    for intake in args.intake_list:
        for rate in args.rate_list:
            results.append(await measure_rate(intake, rate, args, workdir))
    return results


def main() -> None:
    args = parse_args()
    with contextlib.ExitStack() as stack:
        workdir = args.workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="latency-")))
        workdir.mkdir(parents=True, exist_ok=True)
        report(asyncio.run(run(args, workdir)), args)


if __name__ == "__main__":
    main()
