"""List orders reads 30 pages at most: a period with more orders is read in time slices that each fit,
cut finer where orders crowd, and by status where a millisecond alone holds too many."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx2
import pytest
from vtex_stub import APP_KEY, APP_TOKEN

from orderbridge.sandbox.app import create_app
from orderbridge.sandbox.config import SandboxConfig
from orderbridge.vtex import ListingReport, VtexClient
from orderbridge.vtex.listing import Slice, slice_plan, split_time

ACCOUNT = "slicedstore"
T0 = datetime(2026, 11, 1, tzinfo=UTC)
MS = timedelta(milliseconds=1)


def test_a_slice_within_the_cap_is_read_as_it_is() -> None:
    assert slice_plan(Slice(T0, T0 + timedelta(days=1)), total=3_000, capacity=3_000) == []


def test_a_slice_beyond_the_cap_is_cut_into_contiguous_slices_newest_first() -> None:
    part = Slice(T0, T0 + timedelta(days=1), ("handling",))

    plan = slice_plan(part, total=10_000, capacity=3_000)

    assert len(plan) == 5, "enough slices if orders were even, plus one"
    assert plan[0].end == part.end and plan[-1].start == part.start
    assert all(newer.start == older.end for newer, older in itertools.pairwise(plan)), (
        "neighbours share a bound (both ends inclusive): no order falls between two slices"
    )
    assert all(s.statuses == ("handling",) for s in plan)


def test_a_millisecond_beyond_the_cap_is_cut_by_status_and_then_no_further() -> None:
    instant = Slice(T0, T0 + MS, ("handling", "invoiced"))

    by_status = slice_plan(instant, total=4_000, capacity=3_000)

    assert by_status == [Slice(T0, T0 + MS, ("handling",)), Slice(T0, T0 + MS, ("invoiced",))]
    assert slice_plan(by_status[0], total=3_500, capacity=3_000) == [], "nothing finer to cut"


def test_time_is_cut_on_whole_milliseconds_and_never_finer() -> None:
    start = T0 + timedelta(microseconds=1_500)
    cut = split_time(start, start + 3 * MS, 10)
    assert [(a.microsecond, b.microsecond) for a, b in cut] == [
        (3_000, 4_000),
        (2_000, 3_000),
        (1_000, 2_000),
    ]
    assert split_time(T0, T0 + MS, 10) == [(T0, T0 + MS)]


@pytest.fixture
async def sandbox() -> AsyncIterator[tuple[httpx2.AsyncClient, VtexClient]]:
    app = create_app(SandboxConfig(account_name=ACCOUNT, app_key=APP_KEY, app_token=APP_TOKEN))
    transport = httpx2.ASGITransport(app=app)
    async with (
        httpx2.AsyncClient(transport=transport, base_url="http://sandbox") as admin,
        VtexClient(ACCOUNT, APP_KEY, APP_TOKEN, base_url="http://sandbox", transport=transport) as client,
    ):
        yield admin, client


async def _import(admin: httpx2.AsyncClient, number: int, created: datetime, status: str) -> str:
    order_id = f"{7_000_000_000_000 + number}-01"
    document = {
        "orderId": order_id,
        "sequence": str(number),
        "status": status,
        "creationDate": created.isoformat(),
    }
    (await admin.post("/_sandbox/orders", json=document)).raise_for_status()
    return order_id


async def test_every_order_of_a_period_beyond_the_cap_is_listed_once_sliced(
    sandbox: tuple[httpx2.AsyncClient, VtexClient],
) -> None:
    admin, client = sandbox
    # One order per page: a query reads 30 orders at most. A quiet day, a busy second, and a
    # millisecond holding more orders than the cap, of two statuses.
    expected = set()
    for n in range(40):
        expected.add(await _import(admin, n, T0 + n * timedelta(minutes=30), "handling"))
    for n in range(40, 140):
        expected.add(await _import(admin, n, T0 + timedelta(hours=12, milliseconds=7 * n), "handling"))
    crowded = T0 + timedelta(hours=20, microseconds=250)
    for n in range(140, 180):
        expected.add(await _import(admin, n, crowded, "handling" if n % 2 else "invoiced"))
    await _import(admin, 999, T0 + timedelta(hours=10), "canceled")  # a status not asked for
    report = ListingReport()

    listed = [
        summary.order_id
        async for summary in client.list_orders_in_slices(
            T0, T0 + timedelta(days=1), ("handling", "invoiced"), per_page=1, report=report
        )
    ]

    assert set(listed) == expected
    assert report.splits > 0 and report.truncated == []
    assert report.calls <= report.splits + report.slices + len(listed), (
        "every request is a cut or a page of orders (a slice may be empty)"
    )
    assert listed[-1] == f"{7_000_000_000_000}-01", "newest first: the oldest order comes last"


async def test_a_slice_that_cannot_be_cut_finer_is_read_to_the_cap_and_reported(
    sandbox: tuple[httpx2.AsyncClient, VtexClient],
) -> None:
    admin, client = sandbox
    for n in range(35):
        await _import(admin, n, T0, "handling")
    report = ListingReport()

    listed = [
        s async for s in client.list_orders_in_slices(T0, T0 + MS, ("handling",), per_page=1, report=report)
    ]

    assert len(listed) == 30
    assert len(report.truncated) == 1 and "35 orders" in report.truncated[0]
