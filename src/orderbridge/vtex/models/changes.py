"""Order changes: Change v1 (synchronous, deactivated by VTEX on 2026-03-01 but kept for accounts
that still have it) and Change v2 "order modifications" (asynchronous: 202, then poll its status)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from .base import Cents, VtexRequest, VtexResponse


class ChangeV1Item(VtexRequest):
    id: str
    price: int
    """Unit price in cents."""
    quantity: int = Field(ge=1)


class ChangeV1Request(VtexRequest):
    """``POST .../changes``. Only the first request per ``request_id`` takes effect at VTEX."""

    request_id: str
    reason: str
    discount_value: int = Field(default=0, ge=0)
    increment_value: int = Field(default=0, ge=0)
    items_removed: list[ChangeV1Item] = Field(default_factory=list)
    items_added: list[ChangeV1Item] = Field(default_factory=list)


class ChangeV2Item(VtexRequest):
    omit_none = True

    id: str
    quantity: int
    unique_id: str | None = None
    price: int | None = None
    measurement_unit: str | None = None
    unit_multiplier: float | None = None


class ChangeV2Items(VtexRequest):
    omit_none = True

    items: list[ChangeV2Item]


class ChangeV2Replace(VtexRequest):
    omit_none = True

    from_: ChangeV2Items = Field(alias="from")
    to: ChangeV2Items


class ChangeV2Request(VtexRequest):
    """``PATCH /api/order-system/orders/{orderId}/changes``: ``add``, ``remove`` and ``replace``."""

    omit_none = True

    reason: str
    add: ChangeV2Items | None = None
    remove: ChangeV2Items | None = None
    replace: list[ChangeV2Replace] | None = None
    settings: dict[str, Any] | None = None


class ChangeV2Receipt(VtexResponse):
    """The 202 answer: the change was accepted for processing, not yet applied."""

    request_id: str
    workflow_id: str | None = None
    reason: str | None = None
    manual_discount_value: Cents | None = None
    manual_increment_value: Cents | None = None
    total_change_value: Cents | None = None
    date: str | None = None
    origin: Any = None


class ChangeV2Status(ChangeV2Receipt):
    """``GET .../changes/{changeRequestId}``: ``waiting-acknowledgement → waiting-confirmation →
    done | canceled``."""

    status: str | None = None
    in_progress: bool | None = None

    @property
    def is_final(self) -> bool:
        return self.status in ("done", "canceled")
