"""Several accounts, several ERPs: each account's orders reach its own adapter, and the crash-safe
lookup before a handover is asked of the adapter that has one."""

from __future__ import annotations

from pathlib import Path

from orderbridge.core.orders import OrderSnapshot
from orderbridge.erp.port import Accepted, HandoverOrder
from orderbridge.erp.warehouse import SimulatedWarehouse, WarehouseSettings
from orderbridge.erp.webhook import WebhookConfig, WebhookErp
from orderbridge.pipeline.erp_wiring import RoutedErp


def order(account: str, order_id: str) -> HandoverOrder:
    return HandoverOrder(account, order_id, OrderSnapshot(order_id, "ready-for-handling", 1000))


async def test_lookup_is_routed_to_the_accounts_adapter_and_none_where_it_has_no_lookup(
    tmp_path: Path,
) -> None:
    warehouse = SimulatedWarehouse(tmp_path / "wh.db", WarehouseSettings(fulfil=False), autorun=False)
    webhook = WebhookErp(WebhookConfig("http://127.0.0.1:9/never-called", "s3cret"))
    routed = RoutedErp({"storea": warehouse, "storeb": webhook})

    assert await routed.lookup("storea", "1-01") is None
    first = await routed.hand_over(order("storea", "1-01"))

    assert isinstance(first, Accepted)
    assert await routed.lookup("storea", "1-01") == first
    assert await routed.lookup("storeb", "2-01") is None
    assert warehouse.summary().total == 1
