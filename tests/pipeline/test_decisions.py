"""The pure decision of moment 1: each (VTEX status, pipeline record) pair names one next step."""

from __future__ import annotations

from orderbridge.core.decisions import (
    PipelineRecord,
    PipelineState,
    Step,
    decide,
    summary_state,
    unless_incomplete,
)

ACCEPTED = PipelineRecord(erp_accepted=True)
STARTED = PipelineRecord(erp_accepted=True, started=True)


def test_a_new_ready_for_handling_order_is_handed_over() -> None:
    assert decide("ready-for-handling", PipelineRecord()).step is Step.HAND_OVER


def test_an_accepted_order_still_ready_for_handling_is_started() -> None:
    assert decide("ready-for-handling", ACCEPTED).step is Step.START_HANDLING


def test_an_order_already_started_is_never_started_again() -> None:
    assert decide("ready-for-handling", STARTED).step is Step.NOTHING


def test_an_order_the_erp_rejected_waits_for_an_operator() -> None:
    assert decide("ready-for-handling", PipelineRecord(erp_rejected=True)).step is Step.NOTHING


def test_an_order_awaiting_the_erps_acceptance_is_not_handed_over_again() -> None:
    assert decide("ready-for-handling", PipelineRecord(awaiting_acceptance=True)).step is Step.NOTHING


def test_handling_at_vtex_after_acceptance_records_the_start_that_landed_before_a_crash() -> None:
    assert decide("handling", ACCEPTED).step is Step.RECORD_STARTED


def test_an_order_started_outside_orderbridge_is_still_handed_over() -> None:
    assert decide("handling", PipelineRecord()).step is Step.HAND_OVER


def test_a_started_handling_order_waits_for_the_erps_commands() -> None:
    assert decide("handling", STARTED).step is Step.NOTHING


def test_a_cancellation_request_is_put_to_the_erp_once_per_request() -> None:
    first = decide("cancellation-requested", STARTED, "req-1")
    assert first.step is Step.ASK_CANCELLATION
    assert first.cancellation_request_id == "req-1"
    asked = PipelineRecord(erp_accepted=True, started=True, cancellation_asked_for="req-1")
    assert decide("cancellation-requested", asked, "req-1").step is Step.NOTHING
    assert decide("cancellation-requested", asked, "req-2").step is Step.ASK_CANCELLATION


def test_a_cancellation_request_without_an_id_is_asked_once() -> None:
    assert decide("cancellation-requested", PipelineRecord(), None).step is Step.ASK_CANCELLATION
    asked = PipelineRecord(cancellation_asked_for="")
    assert decide("cancellation-requested", asked, None).step is Step.NOTHING


def test_a_cancellation_is_told_to_the_erp_that_has_the_order() -> None:
    assert decide("canceled", ACCEPTED).step is Step.NOTIFY_CANCELED
    assert decide("canceled", PipelineRecord(awaiting_acceptance=True)).step is Step.NOTIFY_CANCELED


def test_a_cancellation_before_the_erp_saw_the_order_is_only_recorded() -> None:
    assert decide("canceled", PipelineRecord()).step is Step.RECORD_CANCELED


def test_a_recorded_cancellation_is_not_told_twice() -> None:
    assert decide("canceled", PipelineRecord(erp_accepted=True, canceled=True)).step is Step.NOTHING


def test_an_invoiced_order_is_completed_once() -> None:
    assert decide("invoiced", STARTED).step is Step.COMPLETE
    assert decide("invoiced", PipelineRecord(completed=True)).step is Step.NOTHING


def test_statuses_before_ready_for_handling_ask_nothing() -> None:
    for status in ("window-to-cancel", "payment-pending", "cancel", "invoice", "", None):
        assert decide(status, PipelineRecord()).step is Step.NOTHING


def test_the_operator_state_follows_the_recorded_facts() -> None:
    assert summary_state("ready-for-handling", PipelineRecord(), parked=False) is PipelineState.WAITING
    assert summary_state("ready-for-handling", ACCEPTED, parked=False) is PipelineState.ACCEPTED
    assert summary_state("handling", STARTED, parked=False) is PipelineState.HANDLING
    assert summary_state("invoiced", PipelineRecord(completed=True), parked=False) is PipelineState.COMPLETED
    assert summary_state("canceled", PipelineRecord(canceled=True), parked=True) is PipelineState.CANCELED
    assert summary_state("ready-for-handling", PipelineRecord(erp_rejected=True), parked=True) is (
        PipelineState.PARKED
    )
    asked = PipelineRecord(erp_accepted=True, started=True, cancellation_asked_for="r")
    assert summary_state("cancellation-requested", asked, parked=False) is PipelineState.CANCELLATION_ASKED
    assert summary_state("handling", asked, parked=False) is PipelineState.HANDLING


def test_an_order_vtex_has_not_completed_is_neither_handed_over_nor_started() -> None:
    handover = decide("ready-for-handling", PipelineRecord())
    start = decide("ready-for-handling", ACCEPTED)
    never_handed_over = decide("handling", PipelineRecord())

    for decision in (handover, start, never_handed_over):
        assert unless_incomplete(decision, is_completed=False).step is Step.AWAIT_COMPLETION
        assert unless_incomplete(decision, is_completed=True) == decision


def test_what_vtex_already_did_to_an_incomplete_order_is_still_recorded() -> None:
    for status, record in (("canceled", PipelineRecord()), ("invoiced", ACCEPTED), ("handling", ACCEPTED)):
        decision = decide(status, record)
        assert unless_incomplete(decision, is_completed=False) == decision


def test_an_incomplete_order_shows_as_incomplete_only_where_it_would_be_waiting() -> None:
    assert summary_state("ready-for-handling", PipelineRecord(), False, is_completed=False) is (
        PipelineState.INCOMPLETE
    )
    assert summary_state("ready-for-handling", PipelineRecord(), False) is PipelineState.WAITING
    assert summary_state("ready-for-handling", ACCEPTED, False, is_completed=False) is PipelineState.ACCEPTED
    awaiting = PipelineRecord(awaiting_acceptance=True)
    assert summary_state("ready-for-handling", awaiting, False, is_completed=False) is (
        PipelineState.AWAITING_ERP
    )
