"""Requests per second of the sandbox for Get order and feed read.

    .venv/bin/python bench/sandbox.py                # starts `orderbridge sandbox` as a subprocess
    .venv/bin/python bench/sandbox.py --base-url http://127.0.0.1:8700 --app-key K --app-token T

Load: `--processes` worker processes, each with `--concurrency` asyncio tasks on one httpx2
AsyncClient (keep-alive), for `--seconds` per scenario. Prints one line per scenario.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import random
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx2

from orderbridge.sandbox.testing import sandbox_subprocess


def _headers(args: argparse.Namespace) -> dict[str, str]:
    return {
        "X-VTEX-API-AppKey": args.app_key,
        "X-VTEX-API-AppToken": args.app_token,
        "Accept": "application/json",
    }


async def _worker(
    base_url: str, headers: dict[str, str], paths: list[str], seconds: float, concurrency: int, client: str
) -> tuple[int, int]:
    deadline = time.perf_counter() + seconds
    if client == "httpx2":
        return await _httpx2_worker(base_url, headers, paths, deadline, concurrency)
    url = urlsplit(base_url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    requests = [f"GET {p} HTTP/1.1\r\nHost: {url.netloc}\r\n{extra}\r\n".encode() for p in paths]
    results = await asyncio.gather(
        *(_raw_connection(host, port, requests, deadline, n) for n in range(concurrency))
    )
    return sum(r[0] for r in results), sum(r[1] for r in results)


async def _raw_connection(
    host: str, port: int, requests: list[bytes], deadline: float, seed: int
) -> tuple[int, int]:
    """One keep-alive HTTP/1.1 connection, one request in flight: a load generator cheap enough
    that the sandbox, not the client, is what gets measured."""
    ok = errors = 0
    rng = random.Random(seed)
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            writer.write(rng.choice(requests))
            head = await reader.readuntil(b"\r\n\r\n")
            start = head.lower().find(b"content-length:")
            length = int(head[start + 15 : head.find(b"\r\n", start)]) if start >= 0 else 0
            await reader.readexactly(length)
            if head[9:12] == b"200":
                ok += 1
            else:
                errors += 1
    finally:
        writer.close()
    return ok, errors


async def _httpx2_worker(
    base_url: str, headers: dict[str, str], paths: list[str], deadline: float, concurrency: int
) -> tuple[int, int]:
    ok = errors = 0
    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx2.AsyncClient(base_url=base_url, headers=headers, limits=limits, timeout=10) as client:

        async def loop(seed: int) -> None:
            nonlocal ok, errors
            rng = random.Random(seed)
            while time.perf_counter() < deadline:
                response = await client.get(rng.choice(paths))
                if response.status_code == 200:
                    ok += 1
                else:
                    errors += 1

        await asyncio.gather(*(loop(n) for n in range(concurrency)))
    return ok, errors


def _process(job: tuple[str, dict[str, str], list[str], float, int, str]) -> tuple[int, int]:
    return asyncio.run(_worker(*job))


def run(
    base_url: str, headers: dict[str, str], paths: list[str], args: argparse.Namespace
) -> tuple[float, int]:
    job = (base_url, headers, paths, args.seconds, args.concurrency, args.client)
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(args.processes) as pool:
        results = pool.map(_process, [job] * args.processes)
    elapsed = time.perf_counter() - started
    ok, errors = sum(r[0] for r in results), sum(r[1] for r in results)
    return ok / min(elapsed, args.seconds + 0.05), errors


def prepare(base_url: str, headers: dict[str, str], orders: int) -> list[str]:
    """Orders to read, and a feed whose events stay visible (visibility timeout 0) for feed reads."""
    with httpx2.Client(base_url=base_url, headers=headers, timeout=30) as client:
        config = {
            "filter": {"type": "FromWorkflow", "status": ["ready-for-handling"]},
            "queue": {"visibilityTimeoutInSeconds": 0, "MessageRetentionPeriodInSeconds": 345600},
        }
        client.post("/api/orders/feed/config", json=config).raise_for_status()
        created = client.post("/_sandbox/orders", json={"count": orders, "status": "ready-for-handling"})
        created.raise_for_status()
        ids: list[str] = created.json()["orderIds"]
        return ids


@contextlib.contextmanager
def target(args: argparse.Namespace) -> Iterator[str]:
    if args.base_url:
        yield args.base_url.rstrip("/")
        return
    with sandbox_subprocess(app_key=args.app_key, app_token=args.app_token) as base_url:
        yield base_url


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base-url", default=None)
    parser.add_argument("--app-key", default="vtexappkey-sandbox")
    parser.add_argument("--app-token", default="sandbox-token")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=50, help="connections (tasks) per process")
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument(
        "--client",
        choices=["raw", "httpx2"],
        default="raw",
        help="raw: a minimal keep-alive HTTP/1.1 client (cheap); httpx2: AsyncClient",
    )
    args = parser.parse_args(argv)
    headers = _headers(args)
    figures: dict[str, Any] = {}
    with target(args) as base_url:
        ids = prepare(base_url, headers, args.orders)
        for name, paths in (
            ("get_order", [f"/api/oms/pvt/orders/{i}" for i in ids]),
            ("feed_read", ["/api/orders/feed?maxlot=10"]),
        ):
            rate, errors = run(base_url, headers, paths, args)
            figures[name] = rate
            print(
                f"{name:10s} {rate:8.0f} req/s  ({args.client}, {args.processes} proc x "
                f"{args.concurrency} conn, {args.seconds:.0f} s, non-200: {errors})",
                flush=True,
            )
    target_rate = 1000
    verdict = "meets" if figures["get_order"] >= target_rate else "MISSES"
    print(f"Get order {verdict} the {target_rate} req/s target ({figures['get_order']:.0f} req/s)")
    return figures


if __name__ == "__main__":
    main()
