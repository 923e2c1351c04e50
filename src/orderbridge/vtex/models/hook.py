"""Orders hook: the configuration and the notifications VTEX POSTs to us."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ConfigDict, Field
from pydantic.alias_generators import to_pascal

from .base import VtexResponse, known_stamp, known_state, lenient_datetime
from .filters import FeedFilter


class HookEndpoint(VtexResponse):
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    """Sent by VTEX with every notification; may hold our receiver's secret, so never log them."""


class HookConfig(VtexResponse):
    """``GET/POST /api/orders/hook/config``. Saving makes VTEX ping ``hook.url`` first."""

    filter: FeedFilter = Field(default_factory=FeedFilter)
    hook: HookEndpoint

    def to_vtex(self) -> dict[str, Any]:
        return {
            "filter": self.filter.model_dump(mode="json", by_alias=True, exclude_none=True),
            "hook": self.hook.model_dump(mode="json", by_alias=True, include={"url", "headers"}),
        }


class _PascalCase(VtexResponse):
    model_config = ConfigDict(alias_generator=to_pascal)


class HookOrigin(_PascalCase):
    account: str | None = None
    key: str | None = None
    """The appKey the hook belongs to — an identifier, but keep it out of logs anyway."""


class HookNotification(_PascalCase):
    """One hook delivery (PascalCase on the wire, unlike feed items). Timestamps kept verbatim."""

    domain: str | None = None
    order_id: str
    state: str | None = None
    last_state: str | None = None
    last_change: str | None = None
    current_change: str | None = None
    origin: HookOrigin | None = None

    @property
    def change_stamp(self) -> str | None:
        """When the notified change happened, verbatim: `CurrentChange`, else `LastChange`.

        A `FromOrders` notification may carry .NET's `DateTime.MinValue` there; such a stamp is no time
        and counts as absent (see `known_stamp`)."""
        return known_stamp(self.current_change) or known_stamp(self.last_change)

    @property
    def known_state(self) -> str | None:
        """`State`, or None for VTEX's "unknow" (a `FromOrders` notification's usual state)."""
        return known_state(self.state)

    @property
    def current_change_at(self) -> datetime | None:
        return lenient_datetime(self.change_stamp)


class HookPing(VtexResponse):
    """``{"hookConfig": "ping"}``: VTEX checks the receiver when the hook is configured; answer 200."""

    hook_config: str


def parse_hook_body(body: dict[str, Any]) -> HookNotification | HookPing:
    """Tell a configuration ping from a real notification."""
    if "hookConfig" in body and "OrderId" not in body:
        return HookPing.model_validate(body)
    return HookNotification.model_validate(body)
