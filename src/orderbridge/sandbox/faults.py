"""Injected faults: latency, 429 (ratio or a real per-account sliding window), 5xx, timeouts,
duplicate and reordered feed deliveries. Never applied to `/_sandbox/*`."""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from orderbridge.sandbox.responses import ProblemError

ENDPOINTS = (
    "get_order",
    "list_orders",
    "start_handling",
    "cancel",
    "changes_v1",
    "changes_v2",
    "invoice",
    "patch_invoice",
    "tracking",
    "feed_read",
    "feed_commit",
    "feed_config",
    "hook_config",
    "jsonata",
    "get_order_group",
    "deny_cancellation",
)
_ENDPOINT_FIELDS = {
    "latency_ms": int,
    "jitter_ms": int,
    "rate_limit_per_minute": int,
    "rate_limit_window_s": float,
    "retry_after_s": float,
    "ratio_429": float,
    "ratio_5xx": float,
    "ratio_timeout": float,
    "timeout_s": float,
}


@dataclass
class EndpointFaults:
    latency_ms: int | None = None
    jitter_ms: int | None = None
    rate_limit_per_minute: int | None = None
    # The window the per-minute quota is counted over: 60 s allows a burst of the whole minute's quota;
    # 1 s smooths it to a per-second rate (VTEX does not say which it does).
    rate_limit_window_s: float | None = None
    retry_after_s: float | None = None
    ratio_429: float | None = None
    ratio_5xx: float | None = None
    ratio_timeout: float | None = None
    timeout_s: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in _ENDPOINT_FIELDS if getattr(self, k) is not None}

    def merged_over(self, base: EndpointFaults) -> EndpointFaults:
        """Fields set here win over `base` ("*")."""
        return EndpointFaults(
            **{
                k: getattr(self, k) if getattr(self, k) is not None else getattr(base, k)
                for k in _ENDPOINT_FIELDS
            }
        )


@dataclass
class FaultConfig:
    latency_ms: int = 0
    jitter_ms: int = 0
    endpoints: dict[str, EndpointFaults] = field(default_factory=dict)
    duplicate_ratio: float = 0.0
    # VTEX's queue may answer fewer than maxlot items even when full; this makes it happen.
    short_batch_ratio: float = 0.0
    reorder: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "latency_ms": self.latency_ms,
            "jitter_ms": self.jitter_ms,
            "endpoints": {k: v.to_json() for k, v in self.endpoints.items()},
            "feed": {
                "duplicate_ratio": self.duplicate_ratio,
                "reorder": self.reorder,
                "short_batch_ratio": self.short_batch_ratio,
            },
        }

    def for_endpoint(self, endpoint: str) -> EndpointFaults:
        star = self.endpoints.get("*", EndpointFaults())
        specific = self.endpoints.get(endpoint)
        return specific.merged_over(star) if specific is not None else star

    def is_quiet(self) -> bool:
        return not (self.latency_ms or self.jitter_ms or self.endpoints)


def _bad(message: str) -> ProblemError:
    return ProblemError(400, "Invalid fault configuration", {"faults": [message]})


def _number(value: Any, kind: type, name: str) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise _bad(f"{name} must be a non-negative number")
    if kind is int and not float(value).is_integer():
        raise _bad(f"{name} must be an integer")
    if name.startswith("ratio") and value > 1:
        raise _bad(f"{name} must be within 0..1")
    return kind(value)


def parse_faults(body: Any) -> FaultConfig:
    """A whole fault configuration (PUT replaces, it does not merge)."""
    if not isinstance(body, dict):
        raise _bad("body must be an object")
    config = FaultConfig(
        latency_ms=_number(body.get("latency_ms", 0), int, "latency_ms"),
        jitter_ms=_number(body.get("jitter_ms", 0), int, "jitter_ms"),
    )
    endpoints = body.get("endpoints") or {}
    if not isinstance(endpoints, dict):
        raise _bad("endpoints must be an object")
    for name, raw in endpoints.items():
        if name != "*" and name not in ENDPOINTS:
            raise _bad(f"unknown endpoint {name!r}")
        if not isinstance(raw, dict) or set(raw) - set(_ENDPOINT_FIELDS):
            raise _bad(f"endpoint {name!r}: known fields are {sorted(_ENDPOINT_FIELDS)}")
        config.endpoints[name] = EndpointFaults(
            **{k: _number(v, _ENDPOINT_FIELDS[k], k) for k, v in raw.items() if v is not None}
        )
    feed = body.get("feed") or {}
    if not isinstance(feed, dict):
        raise _bad("feed must be an object")
    config.duplicate_ratio = _number(feed.get("duplicate_ratio", 0.0), float, "ratio duplicate_ratio")
    config.short_batch_ratio = _number(feed.get("short_batch_ratio", 0.0), float, "ratio short_batch_ratio")
    config.reorder = bool(feed.get("reorder", False))
    return config


def preset(name: str, latency_ms: int = 0) -> FaultConfig:
    """`none` or `flaky` (~5% 5xx, ~5% 429 with Retry-After 1, 10% duplicate feed deliveries, reorder)."""
    if name == "none":
        return FaultConfig(latency_ms=latency_ms)
    if name == "flaky":
        star = EndpointFaults(ratio_5xx=0.05, ratio_429=0.05, retry_after_s=1)
        return FaultConfig(latency_ms=latency_ms, endpoints={"*": star}, duplicate_ratio=0.1, reorder=True)
    raise ValueError(f"unknown fault profile {name!r} (known: none, flaky)")


class SlidingWindow:
    """A real per-account rate limit: at most `limit` calls in any `window_s` of sandbox time."""

    def __init__(self) -> None:
        self.calls: dict[tuple[str, str], deque[float]] = {}

    def retry_after(self, key: tuple[str, str], limit: int, now: float, window_s: float = 60.0) -> int | None:
        """None = admitted (and recorded); otherwise whole seconds until a slot frees (>= 1)."""
        window = self.calls.setdefault(key, deque())
        while window and window[0] <= now - window_s:
            window.popleft()
        if len(window) < limit:
            window.append(now)
            return None
        return max(1, math.ceil(window[0] + window_s - now))


@dataclass
class Verdict:
    """What to do to one request before (or instead of) handling it."""

    delay_s: float = 0.0
    status: int | None = None
    retry_after: int | None = None
    hang_s: float = 0.0


def judge(
    faults: FaultConfig, window: SlidingWindow, endpoint: str, account: str, now: float, rng: random.Random
) -> Verdict:
    spec = faults.for_endpoint(endpoint)
    latency = spec.latency_ms if spec.latency_ms is not None else faults.latency_ms
    jitter = spec.jitter_ms if spec.jitter_ms is not None else faults.jitter_ms
    verdict = Verdict(delay_s=(latency + (rng.uniform(0, jitter) if jitter else 0.0)) / 1000.0)
    if spec.rate_limit_per_minute is not None:
        window_s = spec.rate_limit_window_s or 60.0
        limit = max(1, round(spec.rate_limit_per_minute * window_s / 60.0))
        wait = window.retry_after((account, endpoint), limit, now, window_s)
        if wait is not None:
            verdict.status, verdict.retry_after = 429, wait
            return verdict
    if spec.ratio_429 and rng.random() < spec.ratio_429:
        verdict.status = 429
        verdict.retry_after = max(1, math.ceil(spec.retry_after_s if spec.retry_after_s is not None else 1))
    elif spec.ratio_5xx and rng.random() < spec.ratio_5xx:
        verdict.status = rng.choice((500, 502, 503))
    elif spec.ratio_timeout and rng.random() < spec.ratio_timeout:
        verdict.status = 504
        verdict.hang_s = spec.timeout_s if spec.timeout_s is not None else 30.0
    return verdict
