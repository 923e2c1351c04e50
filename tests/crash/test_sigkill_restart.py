"""The pipeline, killed by SIGKILL between an effect and the record of that effect, then restarted:
afterwards every order reached the ERP exactly once, was started exactly once, was invoiced exactly
as the warehouse planned (no invoice posted twice), and the feed is empty.

Both sides are real processes (`orderbridge sandbox`, `orderbridge run --config`); the verdict comes
from the sandbox's stats and Get order, and from the warehouse's handover log — never from the
pipeline's own database.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest

from orderbridge.pipeline import crashpoints
from orderbridge.sandbox.testing import sandbox_subprocess

from .harness import (
    ACCOUNT,
    APP_KEY,
    APP_TOKEN,
    PAST_VISIBILITY_TIMEOUT_S,
    GroundTruth,
    Pipeline,
    ground_truth,
    write_config,
)

pytestmark = pytest.mark.slow

ORDERS = 8
ORDERS_UNDER_FAULTS = 12
# Each process dies at the N-th visit of its point; the next one starts afresh and dies a bit later.
CRASH_VISITS = (1, 3)


def assert_exactly_once(truth: GroundTruth) -> None:
    stats = truth.stats()
    handovers = truth.handovers()
    assert handovers == dict.fromkeys(truth.order_ids, 1), "an order reached the ERP more or less than once"
    started = stats["start_handling"]
    assert {oid: started.get(oid, 0) for oid in truth.order_ids} == dict.fromkeys(truth.order_ids, 1)
    planned = truth.planned_invoices()
    for order_id in truth.order_ids:
        invoices = stats["invoices"].get(order_id, {"posts": 0, "packages": 0})
        assert invoices["posts"] == invoices["packages"], f"an invoice of {order_id} was posted twice"
        assert invoices["packages"] == planned[order_id], f"{order_id}: packages differ from the plan"
        assert truth.order(order_id)["status"] == "invoiced"
    assert stats["feed_depth"] == 0


@pytest.mark.parametrize(
    "point",
    [
        crashpoints.EVENT_STORED,
        crashpoints.ERP_ACCEPTED,
        crashpoints.START_ANSWERED,
        crashpoints.INVOICE_ANSWERED,
    ],
)
def test_a_pipeline_killed_at_the_point_and_restarted_does_everything_exactly_once(
    point: str, tmp_path: Path
) -> None:
    with (
        sandbox_subprocess(ORDERS, account_name=ACCOUNT, app_key=APP_KEY, app_token=APP_TOKEN) as base_url,
        ground_truth(base_url, tmp_path / "warehouse.db") as truth,
    ):
        pipeline = Pipeline(write_config(tmp_path, base_url), tmp_path)
        assert len(truth.seeded_orders()) == ORDERS
        kills = 0
        for visit in CRASH_VISITS:
            result = pipeline.run_until_crash(f"{point}:{visit}", truth, timeout_s=20)
            kills += result.killed
            # Events read but never committed come back after VTEX's visibility timeout.
            truth.advance_clock(PAST_VISIBILITY_TIMEOUT_S)
        assert kills >= 1, f"the pipeline never reached {point}: {pipeline.last_log()}"

        pipeline.run_until_done(truth, timeout_s=40)

        assert_exactly_once(truth)


def test_killed_at_every_point_in_turn_under_flaky_vtex_it_still_does_everything_exactly_once(
    tmp_path: Path,
) -> None:
    """One store, one pipeline killed at each point in turn while VTEX throws 429s, 5xx (some after
    the POST landed) and duplicate, reordered feed deliveries."""
    with (
        sandbox_subprocess(
            ORDERS_UNDER_FAULTS, account_name=ACCOUNT, app_key=APP_KEY, app_token=APP_TOKEN, faults="flaky"
        ) as base_url,
        ground_truth(base_url, tmp_path / "warehouse.db") as truth,
    ):
        pipeline = Pipeline(write_config(tmp_path, base_url), tmp_path)
        assert len(truth.seeded_orders()) == ORDERS_UNDER_FAULTS
        killed_at = []
        # In the order an order meets them, so each process still finds work for its point.
        for spec in ("event_stored:1", "erp_accepted:3", "start_answered:3", "invoice_answered:3"):
            if pipeline.run_until_crash(spec, truth, timeout_s=20).killed:
                killed_at.append(spec)
            truth.advance_clock(PAST_VISIBILITY_TIMEOUT_S)
        assert len(killed_at) >= 3, (killed_at, pipeline.last_log())

        pipeline.run_until_done(truth, timeout_s=60)

        assert_exactly_once(truth)
        codes = {code for calls in truth.stats()["calls"].values() for code in calls}
        assert "429" in codes and any(code.startswith("5") for code in codes), "VTEX was not flaky"


def test_an_order_the_erp_refused_is_not_handed_over_again_after_a_kill_before_the_record(
    tmp_path: Path,
) -> None:
    """Killed between the ERP's refusal and its record: the restarted pipeline finds the refusal by
    lookup, parks the order with it, and offers it to the ERP no second time."""
    refused = 3
    with (
        sandbox_subprocess(refused, account_name=ACCOUNT, app_key=APP_KEY, app_token=APP_TOKEN) as base_url,
        ground_truth(base_url, tmp_path / "warehouse.db") as truth,
    ):
        config = write_config(tmp_path, base_url, warehouse="reject_ratio = 1.0")
        pipeline = Pipeline(config, tmp_path)
        assert len(truth.seeded_orders()) == refused
        result = pipeline.run_until_crash(f"{crashpoints.ERP_ACCEPTED}:1", truth, timeout_s=20)
        assert result.killed, pipeline.last_log()
        truth.advance_clock(PAST_VISIBILITY_TIMEOUT_S)

        pipeline.run_until_done(truth, timeout_s=40, done=lambda: _all_parked(tmp_path, refused))

        assert truth.handovers() == dict.fromkeys(truth.order_ids, 1)
        assert truth.stats()["start_handling"] == {}


def _all_parked(workdir: Path, expected: int) -> bool:
    with contextlib.closing(sqlite3.connect(workdir / "orderbridge.db")) as conn:
        (parked,) = conn.execute("SELECT count(*) FROM orders WHERE pipeline_state = 'parked'").fetchone()
    return bool(parked == expected)
