"""`/metrics` and the console's queries (stuck rules, bulk retry, resolve, timeline) over a real pipeline."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest
from prometheus_client.parser import text_string_to_metric_families

from orderbridge.api.auth import BearerAuth
from orderbridge.api.metrics import Metrics, metrics_router
from orderbridge.erp.warehouse import WarehouseSettings
from orderbridge.pipeline import oversight
from orderbridge.pipeline.deps import utcnow

from .conftest import ACCOUNT, IDLE_WAREHOUSE, Harness, HarnessFactory

REJECTING = WarehouseSettings(**{**IDLE_WAREHOUSE.model_dump(), "reject_ratio": 1.0})


async def _scrape(harness: Harness, headers: dict[str, str] | None = None) -> tuple[int, str]:
    transport = httpx2.ASGITransport(app=harness.api)
    async with httpx2.AsyncClient(transport=transport, base_url="http://api.test") as http:
        response = await http.get("/metrics", headers=headers or {})
    return response.status_code, response.text


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    found: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def _value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_metrics_count_orders_from_the_store_and_vtex_calls_feed_events_and_latencies(
    make_harness: HarnessFactory, database: str
) -> None:
    harness = await make_harness(warehouse=IDLE_WAREHOUSE, database=database)
    order_ids = await harness.create_orders(2)
    for order_id in order_ids:
        await harness.wait_for(lambda o=order_id: harness.in_state(o, "handling"), what="handling")

    status, text = await _scrape(harness)

    assert status == 200
    samples = _samples(text)
    assert _value(samples, "orderbridge_orders", account=ACCOUNT, state="handling") == 2
    assert _value(samples, "orderbridge_ready_to_handover_seconds_count", account=ACCOUNT) == 2
    assert _value(samples, "orderbridge_handover_to_start_seconds_count", account=ACCOUNT) == 2
    assert _value(samples, "orderbridge_stuck_orders", account=ACCOUNT, rule="parked") == 0
    get_order = "GET /api/oms/pvt/orders/{order_id}"
    assert (
        _value(samples, "orderbridge_vtex_requests_total", account=ACCOUNT, endpoint=get_order, status="200")
        >= 2
    )
    assert _value(samples, "orderbridge_feed_events_total", account=ACCOUNT, stage="read") >= 2
    assert _value(samples, "orderbridge_feed_events_total", account=ACCOUNT, stage="committed") >= 2
    assert all(name.startswith("orderbridge_") for name, _ in samples)


async def test_metrics_behind_a_token_refuse_a_scrape_without_it(make_harness: HarnessFactory) -> None:
    harness = await make_harness(start=False)
    from fastapi import FastAPI

    app = FastAPI()
    app.include_router(metrics_router(Metrics(harness.db), BearerAuth(["scrape-token"])))
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://m.test") as http:
        refused = await http.get("/metrics")
        allowed = await http.get("/metrics", headers={"Authorization": "Bearer scrape-token"})

    assert refused.status_code == 401
    assert allowed.status_code == 200 and "orderbridge_orders" in allowed.text


async def test_a_rejected_order_is_stuck_as_parked_and_a_bulk_retry_records_who_asked(
    make_harness: HarnessFactory,
) -> None:
    harness = await make_harness(warehouse=REJECTING)
    (order_id,) = await harness.create_orders(1)
    await harness.wait_for(lambda: harness.in_state(order_id, "parked"), what="order parked")

    stuck = await oversight.stuck_counts(harness.db, oversight.StuckThresholds())
    assert stuck[ACCOUNT]["parked"] == 1
    rows, total = await oversight.search_orders(harness.db, oversight.OrderFilter(stuck="parked"))
    assert total == 1 and rows[0]["order_id"] == order_id

    results = await oversight.retry_parked(
        harness.db, harness.pipeline.queue, ACCOUNT, who="alice", reason="fixed"
    )

    assert [r["order_id"] for r in results] == [order_id] and results[0]["park_cleared"] is True
    timeline = await oversight.timeline(harness.db, ACCOUNT, order_id)
    retries = [e for e in timeline if e["what"] == "operator_retry"]
    assert retries and retries[0]["detail"].startswith("by alice (fixed)")
    assert any(e["kind"] == "event" and e["raw"] for e in timeline)


async def test_an_order_handed_over_long_ago_and_unanswered_counts_as_awaiting_the_erp(
    make_harness: HarnessFactory,
) -> None:
    silent = WarehouseSettings(**{**IDLE_WAREHOUSE.model_dump(), "accept_later_ratio": 1.0})
    harness = await make_harness(warehouse=silent)
    (order_id,) = await harness.create_orders(1)
    await harness.wait_for(lambda: harness.in_state(order_id, "awaiting_erp"), what="awaiting the ERP")
    thresholds = oversight.StuckThresholds(awaiting_erp_min=60)

    now_counts = await oversight.stuck_counts(harness.db, thresholds)
    later_counts = await oversight.stuck_counts(harness.db, thresholds, now=utcnow() + timedelta(minutes=61))

    assert now_counts[ACCOUNT]["awaiting_erp"] == 0
    assert later_counts[ACCOUNT]["awaiting_erp"] == 1


async def test_marking_a_parked_order_resolved_keeps_the_note_and_who_in_its_timeline(
    make_harness: HarnessFactory,
) -> None:
    harness = await make_harness(warehouse=REJECTING)
    (order_id,) = await harness.create_orders(1)
    await harness.wait_for(lambda: harness.in_state(order_id, "parked"), what="order parked")

    assert await oversight.mark_resolved(harness.db, ACCOUNT, order_id, who="bob", note="refunded by phone")

    (parked,) = await oversight.parked_orders(harness.db)
    assert parked["resolved_note"] == "bob: refunded by phone"
    timeline = await oversight.timeline(harness.db, ACCOUNT, order_id)
    assert timeline[-1]["what"] == "operator_resolved"


async def test_the_shipped_dashboard_and_alert_rules_use_only_metrics_the_service_exports(
    make_harness: HarnessFactory,
) -> None:
    harness = await make_harness(start=False)
    _, text = await _scrape(harness)
    exported = {_family(name) for name in re.findall(r"^# TYPE (orderbridge_\w+)", text, re.M)}
    root = Path(__file__).parents[2] / "docs"
    shipped = (root / "grafana-dashboard.json").read_text() + (root / "prometheus-alerts.yml").read_text()

    used = {
        re.sub(r"_(bucket|total|count|sum)$", "", name) for name in re.findall(r"orderbridge_\w+", shipped)
    }

    assert used and used <= exported, used - exported


async def test_the_sample_scrape_shows_every_metric_family_the_service_exports(
    make_harness: HarnessFactory,
) -> None:
    """`docs/metrics-sample.txt` is what operators read (and `tests/test_readme.py` checks that each of
    its families is documented): a family added to the service must appear there too."""
    harness = await make_harness(start=False)
    _, text = await _scrape(harness)
    sample = (Path(__file__).parents[2] / "docs" / "metrics-sample.txt").read_text()

    exported = {_family(name) for name in re.findall(r"^# TYPE (orderbridge_\w+)", text, re.M)}
    shown = {_family(name) for name in re.findall(r"^# TYPE (orderbridge_\w+)", sample, re.M)}

    assert exported and exported <= shown, exported - shown


def _family(name: str) -> str:
    return re.sub(r"_(bucket|total|count|sum|created)$", "", name)
