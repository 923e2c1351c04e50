"""What a chaos run stages, without starting anything."""

from __future__ import annotations

import pytest

from orderbridge.chaos import FAULT_PROFILES, ChaosOptions, run_chaos
from orderbridge.chaos.runner import shopper_plan
from orderbridge.sandbox.faults import parse_faults


def test_shoppers_cancel_in_small_waves_too() -> None:
    options = ChaosOptions(cancel_in_grace_ratio=0.02, cancel_after_grace_ratio=0.04)
    ids = [f"{n:013d}-01" for n in range(3000)]

    plans = [shopper_plan([order_id], options) for order_id in ids]  # waves of one order

    in_grace = sum(len(p.in_grace) for p in plans)
    after = sum(len(p.after_grace) for p in plans)
    assert 30 <= in_grace <= 90 and 80 <= after <= 160
    assert plans == [shopper_plan([order_id], options) for order_id in ids], "drawn from the seed"


def test_the_flaky_profile_is_a_valid_sandbox_fault_configuration() -> None:
    faults = parse_faults(FAULT_PROFILES["flaky"])

    assert faults.for_endpoint("changes_v2").latency_ms == 3000
    assert faults.for_endpoint("invoice").ratio_timeout == 0.005 and faults.short_batch_ratio > 0


async def test_an_unknown_fault_profile_fails_before_anything_starts() -> None:
    with pytest.raises(ValueError, match="unknown fault profile"):
        await run_chaos(ChaosOptions(faults="hostile"))
