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

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

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


def observe_vtex_call(
    account: str, method: str, endpoint: str, status: int | None, seconds: float, retry_after: float | None
) -> None:
    """The VTEX transport's observer: one call per attempt (see `VtexHttpClient(observer=...)`)."""
    name = f"{method} {endpoint}"
    VTEX_REQUESTS.labels(account, name, str(status) if status is not None else "error").inc()
    VTEX_LATENCY.labels(account, name).observe(seconds)
    if status == 429:
        VTEX_RATE_LIMITED.labels(account).inc()
        if retry_after is not None:
            VTEX_RETRY_AFTER.labels(account).inc(retry_after)


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
