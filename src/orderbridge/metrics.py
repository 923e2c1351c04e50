"""Prometheus counters of what this process did (served by `GET /metrics`, see `orderbridge.api.metrics`).

Every name starts with `orderbridge_`; per-account series carry an `account` label.

Two kinds:

* Counters and histograms of what this process did (VTEX calls, 429s, feed events, hook deliveries),
  incremented where it happens. The VTEX client reports its calls through an observer callback
  (`observe_vtex_call`), so the `vtex` package never imports this module.
* Gauges and histograms read from the database at scrape time (`StoreCollector`): orders by state,
  jobs by state, stuck orders by rule, ERP commands by kind and outcome, ready→handover and
  handover→start latencies. They stay true across restarts and across several instances, because the
  database is the truth (`orderbridge.api.metrics`).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

if TYPE_CHECKING:
    from orderbridge.vtex import VtexCall

REGISTRY = CollectorRegistry()

VTEX_REQUESTS = Counter(
    "orderbridge_vtex_requests",
    "VTEX HTTP requests (each attempt), by account, endpoint template and status ('error' = no answer).",
    ["account", "endpoint", "status"],
    registry=REGISTRY,
)
VTEX_LATENCY = Histogram(
    "orderbridge_vtex_request_duration_seconds",
    "Latency of VTEX HTTP requests (each attempt).",
    ["account", "endpoint"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
VTEX_RATE_LIMITED = Counter(
    "orderbridge_vtex_rate_limited", "VTEX answers 429 (Too Many Requests).", ["account"], registry=REGISTRY
)
VTEX_RETRY_AFTER = Counter(
    "orderbridge_vtex_retry_after_seconds",
    "Seconds VTEX asked us to wait in Retry-After headers of its 429s.",
    ["account"],
    registry=REGISTRY,
)
FEED_EVENTS = Counter(
    "orderbridge_feed_events",
    "Feed events read from VTEX and committed (removed from the feed) after being stored.",
    ["account", "stage"],
    registry=REGISTRY,
)
FEED_LAST_READ = Gauge(
    "orderbridge_feed_last_read_timestamp_seconds",
    "When the account's feed was last read successfully (Unix time), events or not.",
    ["account"],
    registry=REGISTRY,
)
HOOK_DELIVERIES = Counter(
    "orderbridge_hook_deliveries",
    "Deliveries of VTEX's order hook to this service, by the HTTP status answered.",
    ["account", "status"],
    registry=REGISTRY,
)


class LastMinute:
    """Each account's VTEX calls and 429s over the last 60 seconds, in one-second buckets: what the
    dashboard compares with the account's limit (a Prometheus counter only knows totals since start)."""

    WINDOW_S = 60

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        #: account -> [second, calls, 429s] buckets, oldest first, none older than the window.
        self._buckets: dict[str, deque[list[int]]] = {}

    def count(self, account: str, rate_limited: bool) -> None:
        second = int(self._clock())
        buckets = self._buckets.setdefault(account, deque())
        if not buckets or buckets[-1][0] != second:
            buckets.append([second, 0, 0])
            while buckets[0][0] <= second - self.WINDOW_S:
                buckets.popleft()
        buckets[-1][1] += 1
        buckets[-1][2] += int(rate_limited)

    def totals(self) -> dict[str, tuple[int, int]]:
        """{account: (calls, 429s)} in the last 60 seconds."""
        since = int(self._clock()) - self.WINDOW_S
        found: dict[str, tuple[int, int]] = {}
        for account, buckets in list(self._buckets.items()):
            recent = [b for b in list(buckets) if b[0] > since]
            found[account] = (sum(b[1] for b in recent), sum(b[2] for b in recent))
        return found


VTEX_LAST_MINUTE = LastMinute()


def observe_vtex_call(call: VtexCall) -> None:
    """The VTEX transport's observer: one call per attempt (see `VtexHttpClient(observer=...)`)."""
    name = f"{call.method} {call.endpoint}"
    account, status = call.account, call.status
    VTEX_REQUESTS.labels(account, name, str(status) if status is not None else "error").inc()
    VTEX_LATENCY.labels(account, name).observe(call.seconds)
    VTEX_LAST_MINUTE.count(account, status == 429)
    if status == 429:
        VTEX_RATE_LIMITED.labels(account).inc()
        if call.retry_after is not None:
            VTEX_RETRY_AFTER.labels(account).inc(call.retry_after)


def vtex_totals() -> dict[str, dict[str, float]]:
    """{account: {"requests": n, "rate_limited": n}} since this process started (for the dashboard)."""
    totals: dict[str, dict[str, float]] = {}
    for family in (*VTEX_REQUESTS.collect(), *VTEX_RATE_LIMITED.collect()):
        for sample in family.samples:
            if not sample.name.endswith("_total"):
                continue
            key = "rate_limited" if family.name == "orderbridge_vtex_rate_limited" else "requests"
            account = totals.setdefault(sample.labels["account"], {"requests": 0.0, "rate_limited": 0.0})
            account[key] += sample.value
    return totals


def last_feed_reads() -> dict[str, float]:
    """{account: Unix time of the last successful feed read} in this process."""
    return {
        sample.labels["account"]: sample.value
        for family in FEED_LAST_READ.collect()
        for sample in family.samples
    }
