"""The accounts one sandbox serves, and how a request names its account.

VTEX serves each account at its own host (`https://{account}.vtexcommercestable.com.br`); the sandbox
has one host, so a client names the account by a path prefix instead: `http://127.0.0.1:8700/{account}`
is the account's base URL, exactly what orderbridge's per-account `base_url` holds (the client appends
VTEX's paths to it, so production URL building is untouched). VTEX paths without a prefix reach the
default account, as they always did. The admin API names an account with `?account=NAME`.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Receive, Scope, Send

from orderbridge.sandbox.clock import Clock
from orderbridge.sandbox.config import SandboxConfig
from orderbridge.sandbox.responses import ProblemError
from orderbridge.sandbox.state import OmsState

if TYPE_CHECKING:  # httpx2 is a test dependency: the in-process transports tests plug in
    import httpx2

# Where `AccountPrefix` leaves the account it found in a request's ASGI scope.
SCOPE_KEY = "orderbridge.sandbox.account"


class Accounts:
    """Every account's `OmsState`, the default one first; they share the sandbox clock only."""

    def __init__(
        self, config: SandboxConfig, hook_transport: httpx2.AsyncBaseTransport | None = None
    ) -> None:
        self.clock = Clock()
        self.by_name = {
            account.name: OmsState(config, hook_transport, account=account, clock=self.clock)
            for account in config.accounts()
        }
        self.default = self.by_name[config.account_name]

    def __iter__(self) -> Iterator[OmsState]:
        return iter(self.by_name.values())

    def names(self) -> list[str]:
        return list(self.by_name)

    def named(self, name: str | None) -> OmsState:
        """The account `?account=NAME` names (the default one when None); 404 for an unknown name."""
        if name is None:
            return self.default
        oms = self.by_name.get(name)
        if oms is None:
            served = ", ".join(self.by_name)
            raise ProblemError(404, f"No account {name!r} in this sandbox (serving: {served})")
        return oms

    def of_scope(self, scope: MutableMapping[str, Any]) -> OmsState:
        """The account a VTEX request was addressed to (its path prefix), else the default one."""
        name = scope.get(SCOPE_KEY)
        return self.by_name[name] if name is not None else self.default

    def seed_orders(self) -> None:
        for oms in self:
            oms.seed_orders()

    def tick(self) -> None:
        for oms in self:
            oms.tick()

    async def deliver_due(self) -> int:
        """Every account's due hook deliveries; how many succeeded."""
        delivered = 0
        for oms in self:
            delivered += await oms.hooks.deliver_due(self.clock.now(), oms.hook_configs)
        return delivered

    def pending_hooks(self) -> int:
        return sum(len(oms.hooks.pending) for oms in self)

    def reset(self) -> None:
        """Every account back to its start (the clock is shared, so a reset is never partial)."""
        for oms in self:
            oms.reset()

    async def close(self) -> None:
        for oms in self:
            await oms.hooks.close()


class AccountPrefix:
    """ASGI layer: `/{account}/api/...` of a served account becomes `/api/...` addressed to it."""

    def __init__(self, app: ASGIApp, names: frozenset[str]) -> None:
        self.app = app
        self.names = names

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            name, slash, rest = scope["path"][1:].partition("/")
            if slash and rest.startswith("api/") and name in self.names:
                scope = {**scope, "path": "/" + rest, SCOPE_KEY: name}
                raw_path = scope.get("raw_path")
                prefix = f"/{name}".encode()
                if isinstance(raw_path, bytes) and raw_path.startswith(prefix + b"/"):
                    scope["raw_path"] = raw_path[len(prefix) :]
        await self.app(scope, receive, send)
