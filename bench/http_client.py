"""CPU per VTEX call: aiohttp (the production transport) vs httpx2 (its own `AsyncHTTPTransport`,
plugged in as `VtexClient(transport=...)`), both through `VtexClient.get_order`, so the choice of HTTP
client stays measured.

    .venv/bin/python bench/http_client.py                    # 20 tasks x 250 calls per side, uvloop
    .venv/bin/python bench/http_client.py --tasks 50 --calls 400 --loop asyncio

One `orderbridge sandbox` process (no latency, no faults) serves both sides. Each side warms up (its
connections open, caches fill), then `--tasks` concurrent tasks each make `--calls` Get order calls
round-robin over the feed's orders. CPU is this process's `time.process_time` over the measured calls,
so it counts the client only (the sandbox is another process); it includes parsing the answer into an
`Order`, which is measured on its own too so the HTTP share can be read off.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import httpx2
import orjson
import uvloop

from orderbridge.logsetup import configure_logging
from orderbridge.sandbox.testing import sandbox_subprocess
from orderbridge.vtex import Order, VtexClient

ACCOUNT = "benchshop"
APP_KEY = "vtexappkey-benchshop"
APP_TOKEN = "benchshop-token"


@dataclass
class Result:
    name: str
    calls: int
    cpu_s: float
    wall_s: float

    @property
    def cpu_us_per_call(self) -> float:
        return self.cpu_s / self.calls * 1e6

    @property
    def calls_per_s(self) -> float:
        return self.calls / self.wall_s


def make_client(base_url: str, use_aiohttp: bool, connections: int) -> VtexClient:
    transport = (
        None if use_aiohttp else httpx2.AsyncHTTPTransport(limits=httpx2.Limits(max_connections=connections))
    )
    return VtexClient(
        ACCOUNT,
        APP_KEY,
        APP_TOKEN,
        base_url=base_url,
        transport=transport,
        max_connections=connections,
        get_order_per_minute=None,  # the bench measures the client, not VTEX's quota
    )


async def calls(client: VtexClient, order_ids: list[str], tasks: int, per_task: int) -> None:
    async def worker(offset: int) -> None:
        for n in range(per_task):
            await client.get_order(order_ids[(offset + n) % len(order_ids)])

    await asyncio.gather(*(worker(t) for t in range(tasks)))


async def measure(
    name: str, base_url: str, use_aiohttp: bool, order_ids: list[str], args: argparse.Namespace
) -> Result:
    async with make_client(base_url, use_aiohttp, args.tasks) as client:
        await calls(client, order_ids, args.tasks, args.warmup)
        cpu, wall = time.process_time(), time.perf_counter()
        await calls(client, order_ids, args.tasks, args.calls)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return Result(name, args.tasks * args.calls, cpu, wall)


def order_ids_and_body(base_url: str) -> tuple[list[str], bytes]:
    """The feed's order ids (read once: reading hides the events) and one order's document."""
    with httpx2.Client(base_url=base_url, headers=_auth()) as http:
        order_ids = [item["orderId"] for item in http.get("/api/orders/feed").json()]
        body = http.get(f"/api/oms/pvt/orders/{order_ids[0]}").content
    return order_ids, body


def order_parse_us(body: bytes, rounds: int = 2000) -> float:
    """CPU of decoding and validating one sandbox order: the non-HTTP part of a Get order call."""
    started = time.process_time()
    for _ in range(rounds):
        Order.from_raw(orjson.loads(body))
    return (time.process_time() - started) / rounds * 1e6


def _auth() -> dict[str, str]:
    return {"X-VTEX-API-AppKey": APP_KEY, "X-VTEX-API-AppToken": APP_TOKEN}


def run(main: Callable[[], Coroutine[Any, Any, Any]], loop: str) -> Any:
    if loop == "uvloop":
        return uvloop.run(main())
    return asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=20, help="concurrent tasks (and pooled connections)")
    parser.add_argument("--calls", type=int, default=250, help="measured Get order calls per task")
    parser.add_argument("--warmup", type=int, default=25, help="unmeasured calls per task first")
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    args = parser.parse_args()
    configure_logging("WARNING")  # as the pipeline bench runs the service: no line per call

    with sandbox_subprocess(10, account_name=ACCOUNT, app_key=APP_KEY, app_token=APP_TOKEN) as base_url:
        order_ids, body = order_ids_and_body(base_url)
        aiohttp_result = run(lambda: measure("aiohttp", base_url, True, order_ids, args), args.loop)
        httpx_result = run(lambda: measure("httpx2", base_url, False, order_ids, args), args.loop)
    parse_us = order_parse_us(body)

    print(f"{args.tasks} tasks x {args.calls} Get order calls per client, {args.loop} loop")
    for result in (aiohttp_result, httpx_result):
        print(
            f"  {result.name:7} {result.cpu_us_per_call:7.0f} µs CPU per call"
            f"  ({result.cpu_us_per_call - parse_us:5.0f} without Order parsing)"
            f"  {result.calls_per_s:7.0f} calls/s"
        )
    print(f"  Order.from_raw alone: {parse_us:.0f} µs")
    ratio = httpx_result.cpu_us_per_call / aiohttp_result.cpu_us_per_call
    http_ratio = (httpx_result.cpu_us_per_call - parse_us) / (aiohttp_result.cpu_us_per_call - parse_us)
    print(f"  httpx2 / aiohttp CPU per call: {ratio:.2f}x (HTTP part only: {http_ratio:.2f}x)")


if __name__ == "__main__":
    main()
