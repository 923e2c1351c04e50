"""Each client method sends VTEX the documented method, path, query and body, and types the answer."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from vtex_stub import Reply, StubVtex

from orderbridge.vtex import (
    ChangeV1Item,
    ChangeV1Request,
    ChangeV2Item,
    ChangeV2Items,
    ChangeV2Replace,
    ChangeV2Request,
    FeedConfig,
    FeedFilter,
    FeedQueue,
    HookConfig,
    HookEndpoint,
    Invoice,
    InvoiceItem,
    TrackingEvent,
    TrackingEvents,
    TrackingNumberPatch,
    VtexClient,
)

RECEIPT = {"date": "2026-11-27T10:00:00.0000000+00:00", "orderId": "1001-01", "receipt": "r-1"}
FEED_ITEM = {
    "eventId": "E1",
    "handle": "H1",
    "domain": "Fulfillment",
    "state": "ready-for-handling",
    "lastState": "window-to-cancel",
    "orderId": "1001-01",
    "lastChange": "2019-08-12T20:54:01.134057Z",
    "currentChange": "2019-08-12T20:54:23.7153839Z",
}


async def test_read_feed_asks_for_maxlot_and_types_the_events(client: VtexClient, stub: StubVtex) -> None:
    stub.reply("GET", "/api/orders/feed", Reply(json=[FEED_ITEM]))

    items = await client.read_feed(maxlot=7)

    assert stub.seen[0].query == {"maxlot": "7"}
    assert [(i.order_id, i.state, i.handle) for i in items] == [("1001-01", "ready-for-handling", "H1")]
    assert items[0].current_change == "2019-08-12T20:54:23.7153839Z", "kept verbatim for idempotency keys"


@pytest.mark.parametrize("maxlot", [0, 11])
async def test_read_feed_refuses_a_maxlot_outside_1_to_10_without_asking(
    client: VtexClient, stub: StubVtex, maxlot: int
) -> None:
    with pytest.raises(ValueError, match="maxlot"):
        await client.read_feed(maxlot=maxlot)
    assert stub.seen == []


async def test_commit_feed_posts_the_handles_and_skips_an_empty_list(
    client: VtexClient, stub: StubVtex
) -> None:
    await client.commit_feed([])
    await client.commit_feed(["H1", "H2"])

    assert [(s.method, s.path, s.body) for s in stub.seen] == [
        ("POST", "/api/orders/feed", {"handles": ["H1", "H2"]})
    ]


async def test_feed_config_is_posted_with_vtex_key_names_and_read_back(
    client: VtexClient, stub: StubVtex
) -> None:
    config = FeedConfig(
        filter=FeedFilter.from_workflow(["ready-for-handling", "canceled"]),
        queue=FeedQueue(visibility_timeout_in_seconds=240, message_retention_period_in_seconds=345600),
    )
    stub.reply(
        "GET",
        "/api/orders/feed/config",
        Reply(json={**config.to_vtex(), "quantity": 3, "approximateAgeOfOldestMessageInSeconds": 1.5}),
    )

    await client.put_feed_config(config)
    read = await client.get_feed_config()

    assert stub.seen[0].method == "POST"
    assert stub.seen[0].body == {
        "filter": {"type": "FromWorkflow", "status": ["ready-for-handling", "canceled"]},
        "queue": {"visibilityTimeoutInSeconds": 240, "MessageRetentionPeriodInSeconds": 345600},
    }
    assert read is not None
    assert read.filter.status == ["ready-for-handling", "canceled"]
    assert (read.quantity, read.approximate_age_of_oldest_message_in_seconds) == (3, 1.5)


async def test_hook_config_is_posted_and_deleted(client: VtexClient, stub: StubVtex) -> None:
    config = HookConfig(
        filter=FeedFilter.from_orders('status = "invoiced"'),
        hook=HookEndpoint(url="https://erp.example/hook", headers={"x-auth": "hook-secret"}),
    )

    await client.put_hook_config(config)
    await client.delete_hook_config()

    assert [(s.method, s.path) for s in stub.seen] == [
        ("POST", "/api/orders/hook/config"),
        ("DELETE", "/api/orders/hook/config"),
    ]
    assert stub.seen[0].body == {
        "filter": {"type": "FromOrders", "expression": 'status = "invoiced"', "disableSingleFire": False},
        "hook": {"url": "https://erp.example/hook", "headers": {"x-auth": "hook-secret"}},
    }


async def test_get_order_quotes_the_id_so_it_cannot_change_the_route(
    client: VtexClient, stub: StubVtex
) -> None:
    stub.reply("GET", "/api/oms/pvt/orders/seq501456", Reply(json={"orderId": "501456-01"}))
    stub.reply("GET", "/api/oms/pvt/orders/a%2Fb%3Fc", Reply(json={"orderId": "a/b?c"}))

    await client.get_order("seq501456")
    await client.get_order("a/b?c")

    assert [s.path for s in stub.seen] == ["/api/oms/pvt/orders/seq501456", "/api/oms/pvt/orders/a%2Fb%3Fc"]
    assert stub.seen[1].query == {}, "'?' was escaped, not taken as a query"


def a_page(page: int, pages: int, ids: list[str]) -> Reply:
    return Reply(
        json={
            "list": [{"orderId": i, "status": "handling", "totalValue": 7453.000001} for i in ids],
            "paging": {"total": 99, "pages": pages, "currentPage": page, "perPage": len(ids)},
        }
    )


async def test_list_orders_walks_the_pages_with_filters(client: VtexClient, stub: StubVtex) -> None:
    stub.reply("GET", "/api/oms/pvt/orders", a_page(1, 2, ["a", "b"]), a_page(2, 2, ["c"]))

    summaries = [
        s
        async for s in client.list_orders(
            status=["ready-for-handling", "handling"],
            created_from=datetime(2026, 11, 1, tzinfo=UTC),
            created_to=datetime(2026, 11, 2, 1, 59, 59, 999000, tzinfo=UTC),
            per_page=2,
        )
    ]

    assert [s.order_id for s in summaries] == ["a", "b", "c"]
    assert summaries[0].total_value == 7453, "float artefacts from the search index are rounded to cents"
    assert [s.query["page"] for s in stub.seen] == ["1", "2"]
    assert stub.seen[0].query == {
        "page": "1",
        "per_page": "2",
        "orderBy": "creationDate,asc",
        "f_status": "ready-for-handling,handling",
        "f_creationDate": "creationDate:[2026-11-01T00:00:00.000Z TO 2026-11-02T01:59:59.999Z]",
    }


async def test_list_orders_never_reads_beyond_the_page_cap(client: VtexClient, stub: StubVtex) -> None:
    stub.reply("GET", "/api/oms/pvt/orders", a_page(1, 50, ["x"]))

    seen = [s async for s in client.list_orders(max_pages=99)]

    assert len(seen) == 30
    assert len(stub.seen) == 30


async def test_start_handling_posts_without_body_and_accepts_204(client: VtexClient, stub: StubVtex) -> None:
    stub.reply("POST", "/api/oms/pvt/orders/1001-01/start-handling", Reply(204))

    await client.start_handling("1001-01")

    assert [(s.method, s.path, s.body) for s in stub.seen] == [
        ("POST", "/api/oms/pvt/orders/1001-01/start-handling", None)
    ]


async def test_cancel_sends_the_reason_and_returns_the_receipt(client: VtexClient, stub: StubVtex) -> None:
    stub.reply("POST", "/api/oms/pvt/orders/1001-01/cancel", Reply(json=RECEIPT))

    receipt = await client.cancel_order("1001-01", "stock shortage", requested_by_user=True)

    assert stub.seen[0].body == {"reason": "stock shortage", "requestedByUser": True}
    assert (receipt.order_id, receipt.receipt) == ("1001-01", "r-1")


async def test_deny_cancellation_request_posts_to_the_document_route(
    client: VtexClient, stub: StubVtex
) -> None:
    await client.deny_cancellation_request("1001-01", "cr-9", "already shipped")

    assert (stub.seen[0].method, stub.seen[0].path) == (
        "POST",
        "/api/orders/pvt/document/1001-01/deny-cancellation-request",
    )
    assert stub.seen[0].body == {"cancellationRequestId": "cr-9", "denyReason": "already shipped"}


async def test_change_v1_sends_values_in_cents(client: VtexClient, stub: StubVtex) -> None:
    stub.reply("POST", "/api/oms/pvt/orders/1001-01/changes", Reply(json=RECEIPT))
    change = ChangeV1Request(
        request_id="chg-1",
        reason="Stock shortage",
        discount_value=2499,
        items_removed=[ChangeV1Item(id="123", price=2499, quantity=1)],
    )

    await client.send_change_v1("1001-01", change)

    assert stub.seen[0].body == {
        "requestId": "chg-1",
        "reason": "Stock shortage",
        "discountValue": 2499,
        "incrementValue": 0,
        "itemsRemoved": [{"id": "123", "price": 2499, "quantity": 1}],
        "itemsAdded": [],
    }


async def test_change_v2_is_patched_with_the_account_and_read_back(
    client: VtexClient, stub: StubVtex
) -> None:
    path = "/api/order-system/orders/1001-01/changes"
    stub.reply(
        "PATCH", path, Reply(202, json={"requestId": "r-7", "workflowId": "w", "totalChangeValue": -990})
    )
    stub.reply("GET", f"{path}/r-7", Reply(json={"requestId": "r-7", "status": "done", "inProgress": False}))
    change = ChangeV2Request(
        reason="size",
        remove=ChangeV2Items(items=[ChangeV2Item(id="18", quantity=1)]),
        replace=[
            ChangeV2Replace(
                from_=ChangeV2Items(items=[ChangeV2Item(id="1", quantity=1)]),
                to=ChangeV2Items(items=[ChangeV2Item(id="2", quantity=1, price=2499)]),
            )
        ],
    )

    receipt = await client.send_change_v2("1001-01", change)
    status = await client.get_change_v2("1001-01", receipt.request_id)

    assert stub.seen[0].query == {"accountName": "stubstore"}
    assert stub.seen[0].body == {
        "reason": "size",
        "remove": {"items": [{"id": "18", "quantity": 1}]},
        "replace": [
            {
                "from": {"items": [{"id": "1", "quantity": 1}]},
                "to": {"items": [{"id": "2", "quantity": 1, "price": 2499}]},
            }
        ],
    }
    assert receipt.total_change_value == -990
    assert status.is_final and status.status == "done"


async def test_invoice_value_is_sent_as_a_string_of_cents_with_unit_prices(
    client: VtexClient, stub: StubVtex
) -> None:
    stub.reply("POST", "/api/oms/pvt/orders/1001-01/invoice", Reply(json=RECEIPT))
    invoice = Invoice(
        issuance_date=datetime(2026, 11, 27, 9, 30, tzinfo=UTC),
        invoice_number="NF-1001",
        invoice_value=4998,
        items=[InvoiceItem(id="123", price=2499, quantity=2)],
    )

    receipt = await client.send_invoice("1001-01", invoice)

    assert stub.seen[0].body == {
        "type": "Output",
        "issuanceDate": "2026-11-27T09:30:00Z",
        "invoiceNumber": "NF-1001",
        "invoiceValue": "4998",
        "items": [{"id": "123", "price": 2499, "quantity": 2}],
        "courier": "",
        "trackingNumber": "",
        "trackingUrl": "",
    }
    assert receipt.receipt == "r-1"


async def test_tracking_number_and_events_go_to_the_invoice_routes(
    client: VtexClient, stub: StubVtex
) -> None:
    await client.patch_tracking_number(
        "1001-01", "NF-1001", TrackingNumberPatch(tracking_number="TRK1", courier="Correios")
    )
    await client.send_tracking_events(
        "1001-01",
        "NF-1001",
        TrackingEvents(
            is_delivered=True,
            delivered_date="2026-11-28 10:00",
            events=[TrackingEvent(city="Rio", state="RJ", description="Delivered", date="2026-11-28")],
        ),
    )

    assert [(s.method, s.path) for s in stub.seen] == [
        ("PATCH", "/api/oms/pvt/orders/1001-01/invoice/NF-1001"),
        ("PUT", "/api/oms/pvt/orders/1001-01/invoice/NF-1001/tracking"),
    ]
    assert stub.seen[0].body == {
        "trackingNumber": "TRK1",
        "trackingUrl": None,
        "courier": "Correios",
        "dispatchedDate": None,
    }
    assert stub.seen[1].body == {
        "isDelivered": True,
        "deliveredDate": "2026-11-28 10:00",
        "events": [{"city": "Rio", "state": "RJ", "description": "Delivered", "date": "2026-11-28"}],
    }
