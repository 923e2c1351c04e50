"""Pydantic models of what the integration reads from and writes to VTEX OMS."""

from .base import VtexRequest, VtexResponse
from .cancel import CancelRequest, DenyCancellationRequest
from .changes import (
    ChangeV1Item,
    ChangeV1Request,
    ChangeV2Item,
    ChangeV2Items,
    ChangeV2Receipt,
    ChangeV2Replace,
    ChangeV2Request,
    ChangeV2Status,
)
from .feed import FeedConfig, FeedItem, FeedQueue
from .filters import FeedFilter
from .hook import HookConfig, HookEndpoint, HookNotification, HookOrigin, HookPing, parse_hook_body
from .invoice import Invoice, InvoiceItem, TrackingEvent, TrackingEvents, TrackingNumberPatch
from .listing import OrderPage, OrderSummary, Paging
from .order import (
    CancellationData,
    CancellationRequest,
    ChangeData,
    ChangesAttachment,
    CourierStatus,
    Order,
    OrderItem,
    Package,
    PackageAttachment,
    PackageItem,
    Seller,
    Total,
)
from .receipts import Receipt

__all__ = [
    "CancelRequest",
    "CancellationData",
    "CancellationRequest",
    "ChangeData",
    "ChangeV1Item",
    "ChangeV1Request",
    "ChangeV2Item",
    "ChangeV2Items",
    "ChangeV2Receipt",
    "ChangeV2Replace",
    "ChangeV2Request",
    "ChangeV2Status",
    "ChangesAttachment",
    "CourierStatus",
    "DenyCancellationRequest",
    "FeedConfig",
    "FeedFilter",
    "FeedItem",
    "FeedQueue",
    "HookConfig",
    "HookEndpoint",
    "HookNotification",
    "HookOrigin",
    "HookPing",
    "Invoice",
    "InvoiceItem",
    "Order",
    "OrderItem",
    "OrderPage",
    "OrderSummary",
    "Package",
    "PackageAttachment",
    "PackageItem",
    "Paging",
    "Receipt",
    "Seller",
    "Total",
    "TrackingEvent",
    "TrackingEvents",
    "TrackingNumberPatch",
    "VtexRequest",
    "VtexResponse",
    "parse_hook_body",
]
