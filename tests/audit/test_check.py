"""The invariant checker on hand-made ground truth: a clean run passes, and each kind of violation is
found, named and tied to its order."""

from __future__ import annotations

from dataclasses import replace

from orderbridge.audit import (
    AppliedChange,
    AskedChange,
    ErpOrder,
    GroundTruth,
    PipelineOrder,
    VtexOrder,
    check_invariants,
)

CHANGE = AskedChange(request_id="WH1-C", removed={"sku-7": 1})
DELIVERED = VtexOrder(
    status="invoiced",
    delivered=True,
    start_handling=1,
    invoices={"WH1-1": 1},
    changes=(AppliedChange("v2", "vtex-req-1", removed={"sku-7": 1}),),
)
ACCEPTED = ErpOrder(
    handovers=1,
    decision="accepted",
    state="delivered",
    asked_changes=(CHANGE,),
    invoice_numbers=frozenset({"WH1-1"}),
)


def truth(
    vtex: VtexOrder = DELIVERED,
    erp: ErpOrder = ACCEPTED,
    pipeline: PipelineOrder | None = None,
    feed_depth: int = 0,
) -> GroundTruth:
    return GroundTruth(
        vtex={"o1": vtex},
        erp={"o1": erp},
        pipeline={"o1": pipeline} if pipeline is not None else {},
        feed_depth=feed_depth,
    )


def kinds(ground: GroundTruth) -> dict[str, list[str]]:
    report = check_invariants(["o1"], ground)
    return {kind: [v.order_id for v in found] for kind, found in report.violations.items()}


def test_a_delivered_order_with_everything_once_passes() -> None:
    report = check_invariants(["o1"], truth())

    assert report.ok and report.final == 1 and report.violations == {}


def test_a_canceled_order_is_final_and_an_order_the_erp_refused_is_parked_not_stranded() -> None:
    canceled = check_invariants(["o1"], truth(vtex=VtexOrder(status="canceled", cancels=1)))
    refused = check_invariants(
        ["o1"], truth(vtex=VtexOrder(status="ready-for-handling"), erp=ErpOrder(1, "rejected", "rejected"))
    )

    assert canceled.ok and canceled.final == 1
    assert refused.ok and refused.parked_by_erp == ("o1",)


def test_an_order_not_final_with_no_pending_job_is_stranded() -> None:
    handling = replace(DELIVERED, status="handling", delivered=False)

    assert kinds(truth(vtex=handling)) == {"stranded": ["o1"]}


def test_an_order_not_final_with_a_pending_job_is_waiting_not_stranded() -> None:
    report = check_invariants(
        ["o1"], truth(vtex=replace(DELIVERED, status="handling"), pipeline=PipelineOrder(pending_jobs=1))
    )

    assert report.ok and report.waiting == ("o1",)


def test_an_order_never_handed_over_is_stranded() -> None:
    report = check_invariants(["o1"], truth(vtex=VtexOrder(status="ready-for-handling"), erp=ErpOrder()))

    assert report.stranded_ids == ["o1"] and "never handed over" in report.of("stranded")[0].detail


def test_an_order_the_erp_gave_up_on_is_stranded_even_with_jobs_left() -> None:
    ground = truth(
        vtex=replace(DELIVERED, status="handling", delivered=False),
        erp=replace(ACCEPTED, state="gave_up"),
        pipeline=PipelineOrder(pending_jobs=2),
    )

    assert kinds(ground) == {"stranded": ["o1"]}


def test_a_second_handover_is_doubled_unless_an_operator_retried() -> None:
    twice = replace(ACCEPTED, handovers=2)

    assert kinds(truth(erp=twice)) == {"doubled_handovers": ["o1"]}
    assert kinds(truth(erp=twice, pipeline=PipelineOrder(operator_retries=1))) == {}


def test_a_refused_order_handed_over_again_after_a_crash_is_doubled() -> None:
    ground = truth(vtex=VtexOrder(status="ready-for-handling"), erp=ErpOrder(2, "rejected", "rejected"))

    assert kinds(ground) == {"doubled_handovers": ["o1"]}


def test_a_second_start_handling_is_doubled() -> None:
    assert kinds(truth(vtex=replace(DELIVERED, start_handling=2))) == {"doubled_starts": ["o1"]}


def test_an_invoice_number_posted_twice_is_doubled() -> None:
    assert kinds(truth(vtex=replace(DELIVERED, invoices={"WH1-1": 2}))) == {"doubled_invoices": ["o1"]}


def test_an_invoice_the_erp_never_planned_goes_beyond_what_it_asked() -> None:
    extra = replace(DELIVERED, invoices={"WH1-1": 1, "XX-9": 1})

    assert kinds(truth(vtex=extra)) == {"invoices_beyond_asked": ["o1"]}


def test_an_item_change_applied_twice_is_doubled() -> None:
    again = AppliedChange("v2", "vtex-req-2", removed={"sku-7": 1})
    ground = truth(vtex=replace(DELIVERED, changes=(*DELIVERED.changes, again, again)))

    report = check_invariants(["o1"], ground)

    assert report.doubled_ids == ["o1"]
    assert [v.detail for v in report.of("doubled_changes")] == [
        "change WH1-C applied 2 times: -1 sku-7 (v2 vtex-req-2)",
        "change WH1-C applied 3 times: -1 sku-7 (v2 vtex-req-2)",
    ]


def test_an_item_change_the_erp_never_asked_for_goes_beyond_what_it_asked() -> None:
    other = AppliedChange("v2", "vtex-req-9", removed={"sku-8": 2})

    assert kinds(truth(vtex=replace(DELIVERED, changes=(other,)))) == {"changes_beyond_asked": ["o1"]}


def test_a_second_cancellation_is_doubled() -> None:
    ground = truth(vtex=VtexOrder(status="canceled", start_handling=1, cancels=2))

    assert kinds(ground) == {"doubled_cancels": ["o1"]}


def test_a_feed_not_drained_fails_the_run() -> None:
    report = check_invariants(["o1"], truth(feed_depth=3))

    assert not report.ok and report.violation_count == 1 and report.to_json()["feed_drained"] is False


def test_only_the_runs_orders_are_judged() -> None:
    ground = GroundTruth(
        vtex={"o1": DELIVERED, "other": VtexOrder(status="handling")},
        erp={"o1": ACCEPTED},
        pipeline={},
    )

    assert check_invariants(["o1"], ground).ok
