"""The demo's verdict is computed from the sandbox's stats, its Get order documents and the warehouse's
handover log; these tests pin the definitions of docs/demo.md on hand-made ground truth."""

from __future__ import annotations

from typing import Any

from orderbridge.audit import (
    AppliedChange,
    AskedChange,
    ErpOrder,
    GroundTruth,
    VtexOrder,
    check_invariants,
)
from orderbridge.demo.truth import summarize, with_invariants


def delivered(*finished: bool) -> dict[str, Any]:
    packages = [{"courierStatus": {"finished": f}} for f in finished]
    return {"status": "invoiced", "packageAttachment": {"packages": packages}}


def stats(**fields: Any) -> dict[str, Any]:
    return {"start_handling": {}, "invoices": {}, "feed_depth": 0, **fields}


def test_an_order_the_erp_never_got_and_nobody_canceled_is_lost() -> None:
    orders = {"a": {"status": "ready-for-handling"}, "b": {"status": "canceled"}}

    verdict = summarize(["a", "b"], stats(), {}, orders, elapsed_s=1.0)

    assert (verdict.lost, verdict.lost_ids, verdict.canceled) == (1, ("a",), 1)
    assert not verdict.ok


def test_an_order_still_in_the_grace_period_is_unfinished_but_not_lost() -> None:
    verdict = summarize(["a"], stats(), {}, {"a": {"status": "window-to-cancel"}}, elapsed_s=1.0)

    assert (verdict.lost, verdict.unfinished) == (0, 1)


def test_a_second_handover_a_second_start_or_an_invoice_posted_twice_each_count_as_duplicated() -> None:
    truth = stats(
        start_handling={"a": 1, "b": 2, "c": 1, "d": 1},
        invoices={
            "c": {"posts": 2, "packages": 1, "repeats": 1},
            "d": {"posts": 2, "packages": 2, "repeats": 0},
        },
    )
    handovers = {"a": 2, "b": 1, "c": 1, "d": 1}
    orders = {oid: delivered(True) for oid in "abcd"}

    verdict = summarize(list("abcd"), truth, handovers, orders, elapsed_s=2.0)

    assert verdict.duplicated_ids == ("a", "b", "c")
    assert (verdict.handed_over_distinct, verdict.handed_over_total) == (4, 5)
    assert not verdict.ok


def test_an_invoice_post_vtex_refused_is_not_a_duplicate() -> None:
    truth = stats(start_handling={"a": 1}, invoices={"a": {"posts": 2, "packages": 1, "repeats": 0}})

    verdict = summarize(["a"], truth, {"a": 1}, {"a": delivered(True)}, elapsed_s=1.0)

    assert (verdict.duplicated, verdict.invoice_posts, verdict.invoice_packages) == (0, 2, 1)


def test_without_a_repeats_counter_more_posts_than_packages_count_as_duplicated() -> None:
    truth = stats(start_handling={"a": 1}, invoices={"a": {"posts": 2, "packages": 1}})

    verdict = summarize(["a"], truth, {"a": 1}, {"a": delivered(True)}, elapsed_s=1.0)

    assert verdict.duplicated_ids == ("a",)


def test_delivered_means_invoiced_with_every_package_finished() -> None:
    orders = {"a": delivered(True, True), "b": delivered(True, False), "c": {"status": "invoiced"}}
    truth = stats(start_handling=dict.fromkeys("abc", 1))

    verdict = summarize(list("abc"), truth, dict.fromkeys("abc", 1), orders, elapsed_s=1.0)

    assert (verdict.invoiced, verdict.delivered, verdict.unfinished_ids) == (3, 1, ("b", "c"))


def test_an_order_the_erp_has_but_vtex_never_started_is_parked_not_lost() -> None:
    orders = {"a": {"status": "ready-for-handling"}}

    verdict = summarize(["a"], stats(), {"a": 1}, orders, elapsed_s=1.0)

    assert (verdict.parked, verdict.lost, verdict.unfinished) == (1, 0, 0)
    assert verdict.ok


def test_the_json_object_carries_the_issue_keys_and_the_rate() -> None:
    verdict = summarize(["a"], stats(start_handling={"a": 1}), {"a": 1}, {"a": delivered(True)}, 4.0)

    body = verdict.to_json()

    assert body["orders_per_s"] == 0.25
    assert (body["created"], body["delivered"], body["lost"], body["duplicated"]) == (1, 1, 0, 0)
    assert body["lost_ids"] == []


def test_an_item_change_applied_twice_fails_the_demo_through_the_invariant_checker() -> None:
    change = AppliedChange("v2", "r1", removed={"sku-1": 1})
    truth = GroundTruth(
        vtex={"a": VtexOrder("invoiced", True, 1, invoices={"WH1-1": 1}, changes=(change, change))},
        erp={
            "a": ErpOrder(
                1,
                "accepted",
                "delivered",
                (AskedChange("WH1-C", removed={"sku-1": 1}),),
                frozenset({"WH1-1"}),
            )
        },
        pipeline={},
    )
    counts = stats(start_handling={"a": 1}, invoices={"a": {"posts": 1, "packages": 1, "repeats": 0}})
    verdict = summarize(["a"], counts, {"a": 1}, {"a": delivered(True)}, elapsed_s=1.0)
    assert verdict.ok  # handovers, starts and invoices alone do not see it

    judged = with_invariants(verdict, check_invariants(["a"], truth))

    assert (judged.duplicated, judged.duplicated_ids) == (1, ("a",))
    assert not judged.ok
    assert [v["order_id"] for v in judged.to_json()["invariants"]["doubled_changes"]] == ["a"]
