"""Hook (push) for one appKey: ping on save, PascalCase deliveries, retries with growing delays."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp

from orderbridge.http_session import HttpOptions, client_session
from orderbridge.sandbox.filters import OrderFilter, parse_filter
from orderbridge.sandbox.responses import ProblemError

if TYPE_CHECKING:  # httpx2 is a test dependency: the in-process receivers tests plug in
    import httpx2


@dataclass
class HookConfig:
    filter: OrderFilter
    url: str
    headers: dict[str, str]
    last_activity_at: float
    fired_orders: set[str] = field(default_factory=set)

    def to_json(self) -> dict[str, Any]:
        return {"filter": self.filter.to_json(), "hook": {"url": self.url, "headers": dict(self.headers)}}


@dataclass
class Delivery:
    app_key: str
    body: dict[str, Any]
    next_at: float
    attempts: int = 0


@dataclass
class HookCounters:
    delivered: int = 0
    failed_attempts: int = 0
    dropped: int = 0


def parse_hook_config(body: Any) -> tuple[OrderFilter, str, dict[str, str]]:
    if not isinstance(body, dict):
        raise ProblemError(400, "One or more validation errors occurred.", {"": ["A body is required."]})
    hook = body.get("hook")
    if not isinstance(hook, dict) or not isinstance(hook.get("url"), str):
        raise ProblemError(
            400, "One or more validation errors occurred.", {"Hook.Url": ["The Url field is required."]}
        )
    headers = hook.get("headers") or {}
    if not isinstance(headers, dict):
        raise ProblemError(
            400, "One or more validation errors occurred.", {"Hook.Headers": ["Must be an object."]}
        )
    url = hook["url"]
    if not url.startswith(("http://", "https://")):
        raise ProblemError(400, "Unable to check address / Only https scheme is accepted.")
    return parse_filter(body.get("filter")), url, {str(k): str(v) for k, v in headers.items()}


class HookDispatcher:
    """Sends due deliveries; a failed one waits base * factor**(attempts-1) seconds of sandbox time.

    Each delivery is sent as soon as it is due, whatever is still on its way: VTEX does not hold one
    notification until the receiver answered another (a receiver that stores before its 200 would
    otherwise delay every order behind the one it is storing).

    Deliveries go over aiohttp, connected as every outgoing call is (``orderbridge.http_session``); a
    ``transport`` (httpx2, a test dependency: a mock or an in-process ASGI receiver) replaces it in
    tests."""

    def __init__(
        self,
        base_s: float,
        factor: float,
        max_attempts: int,
        timeout_s: float,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_s, self.factor, self.max_attempts, self.timeout_s = base_s, factor, max_attempts, timeout_s
        self.transport = transport
        self.pending: list[Delivery] = []
        self.counters = HookCounters()
        self._client: httpx2.AsyncClient | None = None
        self._session: aiohttp.ClientSession | None = None
        self._in_flight: set[asyncio.Task[bool]] = set()

    async def _post(self, url: str, body: dict[str, Any], headers: dict[str, str]) -> bool:
        """POST ``body`` as JSON; True when the receiver answered 200 (any failure is a False)."""
        if self.transport is not None:
            import httpx2

            if self._client is None:
                self._client = httpx2.AsyncClient(transport=self.transport, timeout=self.timeout_s)
            try:
                response = await self._client.post(url, json=body, headers=headers)
            except httpx2.HTTPError:
                return False
            return response.status_code == 200
        if self._session is None:
            self._session = client_session(HttpOptions())
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        try:
            async with self._session.post(
                url, json=body, headers=headers, allow_redirects=False, timeout=timeout
            ) as answer:
                await answer.read()
                return answer.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def close(self) -> None:
        for task in self._in_flight:
            task.cancel()
        await asyncio.gather(*self._in_flight, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    def clear(self) -> None:
        self.pending.clear()
        self.counters = HookCounters()

    def enqueue(self, app_key: str, body: dict[str, Any], now: float) -> None:
        self.pending.append(Delivery(app_key, body, now))

    async def ping(self, url: str, headers: dict[str, str]) -> bool:
        """VTEX validates a hook on save: the receiver must answer 200 to `{"hookConfig": "ping"}`."""
        return await self._post(url, {"hookConfig": "ping"}, headers)

    async def deliver_due(self, now: float, hooks: dict[str, HookConfig]) -> int:
        """Send every delivery that is due, alongside any still on its way; returns how many of these
        succeeded once the sends started before this pass have finished too, so a caller knows that
        everything due has been tried."""
        earlier = list(self._in_flight)
        due = [d for d in self.pending if d.next_at <= now]
        self.pending = [d for d in self.pending if d.next_at > now]
        sends = [asyncio.create_task(self._send(d, hooks, now)) for d in due]
        for task in sends:
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
        results = await asyncio.gather(*sends)
        if earlier:
            await asyncio.wait(earlier)
        return sum(results)

    async def _send(self, delivery: Delivery, hooks: dict[str, HookConfig], now: float) -> bool:
        config = hooks.get(delivery.app_key)
        # A removed hook leaves nothing to deliver to.
        ok = config is None or await self._post(config.url, delivery.body, config.headers)
        self._settle(delivery, ok, now)
        return ok

    def _settle(self, delivery: Delivery, ok: bool, now: float) -> None:
        delivery.attempts += 1
        if ok:
            self.counters.delivered += 1
            return
        self.counters.failed_attempts += 1
        if delivery.attempts >= self.max_attempts:
            self.counters.dropped += 1
            return
        delivery.next_at = now + self.base_s * self.factor ** (delivery.attempts - 1)
        self.pending.append(delivery)
