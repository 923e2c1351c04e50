"""A webhook ERP that fails is retried and reported, never read as a decision (issue 10, defect 5c).

The real pipeline against the sandbox, with the ERP played by a real HTTP server (`fake_erp_server`):
a 401, 404 or 503 neither parks an order as "rejected" nor denies a shopper's cancellation; many
failures in a row make the ERP channel unhealthy (once) instead; and a cancellation request for an
order the ERP never accepted is accepted at VTEX by default, asked to the ERP under `ask_erp`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from sqlalchemy import select

from orderbridge.core.decisions import PipelineState
from orderbridge.erp.webhook import WebhookConfig, WebhookErp
from orderbridge.pipeline import operators
from orderbridge.pipeline.deps import AccountPolicy
from orderbridge.pipeline.vtex_health import VTEX_CHANNEL_PREFIX
from orderbridge.store import tables

from .fake_erp_server import Delivery, FakeErp, Reply, fake_erp_server
from .harness import ACCOUNT, Harness, eventually, running_pipeline

SECRET = "whsec-failures"


@pytest.fixture
def erp() -> Iterator[FakeErp]:
    with fake_erp_server(SECRET) as server:
        yield server


def webhook(erp: FakeErp) -> WebhookErp:
    return WebhookErp(WebhookConfig(url=erp.url, secret=SECRET, timeout_s=2.0))


def answering(**by_event: Reply) -> Callable[[Delivery], Reply]:
    """The ERP's answer per event; an order is accepted unless said otherwise."""
    return lambda delivery: by_event.get(delivery.event.replace("-", "_"), Reply(200, {"erpReference": "SO"}))


def deliveries(erp: FakeErp, event: str, order_id: str | None = None) -> list[Delivery]:
    return [d for d in erp.deliveries if d.event == event and order_id in (None, d.body.get("orderId"))]


async def customer_cancel(h: Harness, order_id: str) -> None:
    response = await h.admin.post(f"/_sandbox/orders/{order_id}/customer-cancel", json={"reason": "oops"})
    response.raise_for_status()


async def state_of(h: Harness, order_id: str) -> str | None:
    row = await h.order_row(order_id)
    return row.pipeline_state if row is not None else None


async def reach(h: Harness, order_id: str, state: PipelineState) -> None:
    async def reached() -> bool:
        return await state_of(h, order_id) == state.value

    await eventually(reached, what=f"{order_id} {state.value}")


async def denies(h: Harness) -> int:
    return sum((await h.stats())["calls"].get("deny_cancellation", {}).values())


async def parked_jobs(h: Harness) -> int:
    with h.db.connect() as session:
        query = select(tables.jobs.c.id).where(tables.jobs.c.status == "parked")
        return len((session.execute(query)).all())


async def channel(h: Harness) -> dict[str, Any] | None:
    with h.db.connect() as session:
        erp_only = ~tables.erp_channels.c.name.startswith(VTEX_CHANNEL_PREFIX)  # not VTEX's own health
        row = (session.execute(select(tables.erp_channels).where(erp_only))).mappings().one_or_none()
    return dict(row) if row is not None else None


async def test_an_erp_answering_401_to_every_order_is_one_unhealthy_channel_not_rejected_orders(
    tmp_path: Path, erp: FakeErp
) -> None:
    erp.decide = answering(order=Reply(401, {"reason": "unauthorized"}))
    with structlog.testing.capture_logs() as logs:
        async with running_pipeline(tmp_path, webhook(erp)) as h:
            order_ids = await h.new_orders(3)

            async def unhealthy() -> bool:
                return len(deliveries(erp, "order")) >= 9 and (await channel(h) or {}).get("healthy") is False

            await eventually(unhealthy, what="the ERP channel reported unhealthy after retries")
            for order_id in order_ids:
                assert await state_of(h, order_id) != PipelineState.PARKED.value
            assert await parked_jobs(h) == 0
            shown = (await operators.status(h.db))["erp_channels"]["webhook"]
            assert shown["healthy"] is False
            assert "HTTP 401" in shown["last_error"]

            erp.decide = answering()  # the operator fixed the secret
            for order_id in order_ids:
                await reach(h, order_id, PipelineState.HANDLING)
            assert (await channel(h) or {}).get("healthy") is True
            stats = await h.stats()
            assert stats["start_handling"] == {order_id: 1 for order_id in order_ids}
    events = [entry["event"] for entry in logs]
    assert events.count("erp_channel_unhealthy") == 1
    assert events.count("erp_channel_recovered") == 1
    assert "order_parked" not in events


@pytest.mark.parametrize("status", [401, 404, 503])
async def test_a_cancellation_request_the_erp_fails_to_answer_is_asked_again_never_denied(
    tmp_path: Path, erp: FakeErp, status: int
) -> None:
    erp.decide = answering(cancellation_requested=Reply(status, {"reason": "not found"}))
    async with running_pipeline(tmp_path, webhook(erp)) as h:
        [order_id] = await h.new_orders(1)
        await reach(h, order_id, PipelineState.HANDLING)
        await customer_cancel(h, order_id)

        async def asked_twice() -> bool:
            return len(deliveries(erp, "cancellation-requested")) >= 2

        await eventually(asked_twice, what="the cancellation request asked again")
        assert await denies(h) == 0
        assert await state_of(h, order_id) != PipelineState.PARKED.value

        erp.decide = answering(cancellation_requested=Reply(200, {"accept": False, "reason": "shipped"}))

        async def denied() -> bool:
            return await denies(h) == 1

        await eventually(denied, what="the ERP's explicit denial relayed to VTEX")
        await h.settled()
        assert await denies(h) == 1
        assert (await h.vtex_order(order_id))["status"] == "handling"


async def test_a_cancellation_request_before_the_erp_accepted_is_accepted_at_vtex_without_asking(
    tmp_path: Path, erp: FakeErp
) -> None:
    erp.decide = answering(order=Reply(503, {"reason": "down"}))
    async with running_pipeline(tmp_path, webhook(erp)) as h:
        [order_id] = await h.new_orders(1)

        async def offered() -> bool:
            return len(deliveries(erp, "order")) >= 1

        await eventually(offered, what="the order offered to the ERP")
        await customer_cancel(h, order_id)
        await reach(h, order_id, PipelineState.CANCELED)
        assert (await h.stats())["cancels"] == {order_id: 1}
        assert await denies(h) == 0
        assert deliveries(erp, "cancellation-requested") == []
        # The ERP answered 503 to the handover, so it may have the order: it hears of the cancellation.
        assert len(deliveries(erp, "order-canceled", order_id)) == 1


async def test_under_ask_erp_a_cancellation_request_before_acceptance_is_asked_and_an_explicit_no_denies(
    tmp_path: Path, erp: FakeErp
) -> None:
    erp.decide = answering(
        order=Reply(503, {"reason": "down"}),
        cancellation_requested=Reply(200, {"accept": False, "reason": "we want this one"}),
    )
    policy = AccountPolicy(ACCOUNT, pollers=1, cancellation_before_acceptance="ask_erp")
    async with running_pipeline(tmp_path, webhook(erp), policy=policy) as h:
        [order_id] = await h.new_orders(1)

        async def offered() -> bool:
            return len(deliveries(erp, "order")) >= 1

        await eventually(offered, what="the order offered to the ERP")
        await customer_cancel(h, order_id)

        async def denied() -> bool:
            return await denies(h) == 1

        await eventually(denied, what="the ERP's denial relayed to VTEX")
        assert len(deliveries(erp, "cancellation-requested", order_id)) == 1
        assert (await h.stats())["cancels"] == {}

        # Never accepted, still not in fulfilment: it is offered to the ERP again, not left waiting.
        erp.decide = answering()
        await reach(h, order_id, PipelineState.HANDLING)
        assert (await h.stats())["start_handling"] == {order_id: 1}
