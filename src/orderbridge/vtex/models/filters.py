"""The event filter shared by feed and hook configurations."""

from __future__ import annotations

from typing import Literal

from .base import VtexResponse


class FeedFilter(VtexResponse):
    """``FromWorkflow`` with ``status`` (status changes) or ``FromOrders`` with a JSONata ``expression``.

    Serialized with ``exclude_none``: VTEX answers 409 when a FromWorkflow filter carries an
    expression or the other way round.
    """

    type: Literal["FromWorkflow", "FromOrders"] | str = "FromWorkflow"
    status: list[str] | None = None
    expression: str | None = None
    disable_single_fire: bool | None = None

    @classmethod
    def from_workflow(cls, statuses: list[str]) -> FeedFilter:
        return cls(type="FromWorkflow", status=list(statuses))

    @classmethod
    def from_orders(cls, expression: str, *, disable_single_fire: bool = False) -> FeedFilter:
        return cls(type="FromOrders", expression=expression, disable_single_fire=disable_single_fire)
