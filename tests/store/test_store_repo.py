"""Repository functions on both dialects: dedupe, upserts, compare-and-set, commands and their work."""

from __future__ import annotations

from datetime import UTC

import pytest

from orderbridge.core.commands import (
    InvoiceCommand,
    InvoiceLine,
    TrackingNumberCommand,
    command_from_dict,
    command_to_dict,
)
from orderbridge.core.orders import InvoiceKind
from orderbridge.store import repo
from orderbridge.store.db import Database

SNAPSHOT = {"order_id": "o1", "status": "handling", "value_cents": 10000, "items": [], "packages": []}


def invoice(
    number: str, value: int, *, kind: InvoiceKind = "Output", tracking: str | None = None
) -> dict[str, object]:
    command = InvoiceCommand(
        number,
        value,
        "2026-11-27",
        (InvoiceLine("A", 1, value),),
        invoice_kind=kind,
        tracking_number=tracking,
    )
    return command_to_dict(command)


async def test_an_intake_event_is_stored_once_per_order_state_and_change(db: Database) -> None:
    with db.begin() as s:
        first = repo.record_intake_event(s, "acme", "feed", "o1", "ready-for-handling", None, "t1", {"a": 1})
        again = repo.record_intake_event(s, "acme", "hook", "o1", "ready-for-handling", None, "t1", {"a": 2})
        later = repo.record_intake_event(s, "acme", "feed", "o1", "ready-for-handling", None, "t2", None)
        other_account = repo.record_intake_event(
            s, "beta", "feed", "o1", "ready-for-handling", None, "t1", None
        )
    assert first is not None and later is not None and other_account is not None
    assert again is None


async def test_a_batch_of_intake_events_answers_which_were_new_with_the_same_dedupe(db: Database) -> None:
    from orderbridge.pipeline.intake import IncomingEvent

    batch = [
        IncomingEvent("o1", "ready-for-handling", None, "t1", {"a": 1}),  # stored below already
        IncomingEvent("o2", "ready-for-handling", None, "t1", {"b": 1}),
        IncomingEvent("o3", None, None, None, {}),
    ]
    with db.begin() as s:
        repo.record_intake_event(s, "acme", "hook", "o1", "ready-for-handling", None, "t1", None)
        new = repo.record_intake_events(s, "acme", "feed", batch)
        assert repo.record_intake_events(s, "acme", "feed", batch) == set()
    assert new == {("o2", "ready-for-handling", "t1"), ("o3", "", "")}


async def test_events_without_a_change_time_are_deduplicated_too(db: Database) -> None:
    with db.begin() as s:
        assert repo.record_intake_event(s, "acme", "reconcile", "o1", "handling", None, None, None)
        assert repo.record_intake_event(s, "acme", "reconcile", "o1", "handling", None, None, None) is None


async def test_processing_marks_every_waiting_event_of_the_order(db: Database) -> None:
    with db.begin() as s:
        repo.record_intake_event(s, "acme", "feed", "o1", "ready-for-handling", None, "t1", None)
        repo.record_intake_event(s, "acme", "feed", "o1", "handling", None, "t2", None)
        repo.record_intake_event(s, "acme", "feed", "o2", "handling", None, "t2", None)
        assert repo.mark_intake_events_processed(s, "acme", "o1") == 2
        assert repo.mark_intake_events_processed(s, "acme", "o1") == 0


async def test_a_new_order_starts_new_and_each_update_bumps_its_version(db: Database) -> None:
    with db.begin() as s:
        assert repo.upsert_order(
            s, "acme", "o1", "ready-for-handling", {"raw": 1}, SNAPSHOT, "2026-11-27T10:00"
        )
        assert repo.upsert_order(s, "acme", "o1", "handling", {"raw": 2}, SNAPSHOT, "2026-11-27T10:01")
    with db.connect() as s:
        row = repo.get_order(s, "acme", "o1", with_raw=True)
        lean = repo.get_order(s, "acme", "o1")
        missing = repo.get_order(s, "acme", "nope")
    assert row is not None and lean is not None and missing is None
    assert (row.pipeline_state, row.vtex_status, row.version, row.value_cents) == (
        "new",
        "handling",
        2,
        10000,
    )
    assert row.raw == {"raw": 2} and lean.raw is None
    assert row.order_snapshot().status == "handling"
    assert row.created_at.tzinfo is UTC and row.updated_at >= row.created_at


async def test_an_older_read_never_overwrites_a_newer_one(db: Database) -> None:
    with db.begin() as s:
        repo.upsert_order(s, "acme", "o1", "handling", None, SNAPSHOT, "2026-11-27T10:05")
        assert not repo.upsert_order(
            s, "acme", "o1", "ready-for-handling", None, SNAPSHOT, "2026-11-27T10:00"
        )
        row = repo.get_order(s, "acme", "o1")
    assert row is not None and row.vtex_status == "handling"


async def test_a_step_guarded_by_the_expected_state_happens_once(db: Database) -> None:
    with db.begin() as s:
        repo.upsert_order(s, "acme", "o1", "ready-for-handling", None, SNAPSHOT, "t")
        first = repo.set_pipeline_state(s, "acme", "o1", "accepted", expect_state="new", erp_reference="E1")
        second = repo.set_pipeline_state(s, "acme", "o1", "accepted", expect_state="new", erp_reference="E2")
        either = repo.set_pipeline_state(
            s, "acme", "o1", "parked", expect_state=("new", "accepted"), park_reason="ERP said no"
        )
        row = repo.get_order(s, "acme", "o1")
    assert (first, second, either) == (True, False, True)
    assert row is not None and (row.pipeline_state, row.erp_reference, row.park_reason) == (
        "parked",
        "E1",
        "ERP said no",
    )


async def test_only_known_order_fields_can_be_set(db: Database) -> None:
    with db.begin() as s, pytest.raises(ValueError, match="snapshot"):
        repo.set_pipeline_state(s, "acme", "o1", "new", snapshot={})


async def test_orders_are_listed_and_counted_by_state(db: Database) -> None:
    with db.begin() as s:
        for n in range(5):
            repo.upsert_order(s, "acme" if n < 4 else "beta", f"o{n}", "handling", None, SNAPSHOT, "t")
        repo.set_pipeline_state(s, "acme", "o0", "completed")
    with db.connect() as s:
        counts = repo.count_orders_by_state(s)
        new_acme = repo.list_orders(s, account="acme", pipeline_state="new")
        page = repo.list_orders(s, limit=2, offset=1)
        everything = repo.list_orders(s)
    assert counts == {("acme", "new"): 3, ("acme", "completed"): 1, ("beta", "new"): 1}
    assert sorted(o.order_id for o in new_acme) == ["o1", "o2", "o3"]
    assert len(page) == 2 and len(everything) == 5
    assert [o.order_id for o in everything][1:3] == [o.order_id for o in page]


async def test_an_idempotency_key_is_used_once_per_account_and_the_transaction_survives(db: Database) -> None:
    with db.begin() as s:
        first = repo.add_command(s, "acme", "o1", invoice("NF1", 100), "api", idempotency_key="k1")
        with pytest.raises(repo.DuplicateIdempotencyKey) as dup:
            repo.add_command(s, "acme", "o1", invoice("NF1", 100), "api", idempotency_key="k1")
        other_account = repo.add_command(s, "beta", "o1", invoice("NF1", 100), "api", idempotency_key="k1")
        no_key = repo.add_command(s, "acme", "o1", invoice("NF2", 100), "api")
    assert dup.value.command_id == first
    with db.connect() as s:
        stored = repo.get_command(s, first)
        by_key = repo.find_command_by_idempotency_key(s, "acme", "k1")
        listed = repo.list_commands(s, "acme", "o1")
    assert stored is not None and by_key is not None and by_key.id == first
    assert (stored.kind, stored.status, stored.invoice_number, stored.channel) == (
        "invoice",
        "pending",
        "NF1",
        "api",
    )
    assert command_from_dict(stored.payload) == command_from_dict(invoice("NF1", 100))
    assert {c.id for c in listed} == {first, no_key} and other_account != first


async def test_command_status_moves_only_from_the_expected_status(db: Database) -> None:
    with db.begin() as s:
        cid = repo.add_command(s, "acme", "o1", invoice("NF1", 100), "api")
        assert repo.set_command_status(s, cid, "sending", expect_status="pending")
        assert not repo.set_command_status(s, cid, "sending", expect_status="pending")
        assert repo.set_command_status(
            s, cid, "sent", vtex_receipt={"receipt": "r1"}, expect_status=("sending",)
        )
        row = repo.get_command(s, cid)
    assert row is not None and row.status == "sent" and row.vtex_receipt == {"receipt": "r1"}


async def test_pending_work_counts_only_commands_not_yet_confirmed(db: Database) -> None:
    with db.begin() as s:
        repo.add_command(s, "acme", "o1", invoice("NF1", 3000, tracking="TR1"), "api")
        sent = repo.add_command(s, "acme", "o1", invoice("NF2", 2000), "api")
        repo.set_command_status(s, sent, "sent")
        done = repo.add_command(s, "acme", "o1", invoice("NF3", 1000), "api")
        repo.set_command_status(s, done, "confirmed")
        refused = repo.add_command(s, "acme", "o1", {"kind": "cancel", "reason": "x"}, "api")
        repo.set_command_status(s, refused, "rejected", error="VTEX said no")
        repo.add_command(s, "acme", "o1", invoice("RET1", 500, kind="Input"), "api")
        repo.add_command(s, "acme", "o1", command_to_dict(TrackingNumberCommand("NF0", "TR0", "C")), "api")
        repo.add_command(s, "acme", "o1", {"kind": "change", "request_id": "r", "reason": "x"}, "api")
        repo.add_command(s, "acme", "o2", {"kind": "cancel", "reason": "x"}, "api")
        in_flight = [
            (c.kind, c.payload, c.status)
            for c in repo.order_commands(s, "acme", "o1")
            if c.status in repo.IN_FLIGHT_STATUSES
        ]
        work = repo.pending_work_from(in_flight)
    assert work.invoice_cents_in_flight == 5000
    assert work.invoice_numbers == {"NF1", "NF2", "RET1"}
    assert work.invoice_values == {"NF1": 3000, "NF2": 2000, "RET1": 500}
    assert work.tracking_numbers_in_flight == {"NF1", "NF0"}
    assert work.output_lines_in_flight == {"NF1": {"A": 1}, "NF2": {"A": 1}}
    assert work.change_in_progress and not work.cancel_in_flight and not work.deny_in_flight


async def test_invoices_that_show_on_the_order_are_confirmed(db: Database) -> None:
    with db.begin() as s:
        landed = repo.add_command(s, "acme", "o1", invoice("NF1", 3000), "api")
        repo.set_command_status(s, landed, "sent")
        waiting = repo.add_command(s, "acme", "o1", invoice("NF2", 3000), "api")
        assert repo.confirm_landed_invoices(s, "acme", "o1", ["NF1", "NF0"]) == 1
        assert repo.confirm_landed_invoices(s, "acme", "o1", []) == 0
        statuses = {c.id: c.status for c in repo.list_commands(s, "acme", "o1")}
    assert statuses == {landed: "confirmed", waiting: "pending"}


async def test_every_attempt_is_kept_in_order(db: Database) -> None:
    with db.begin() as s:
        for n, outcome in enumerate(["unavailable", "rate_limited", "ok"]):
            repo.add_attempt(s, "acme", "o1", "post_invoice", outcome, http_status=500 + n, detail=f"try {n}")
        repo.add_attempt(s, "acme", "o2", "start_handling", "ok", job_id=7)
    with db.connect() as s:
        tries = repo.list_attempts(s, "acme", "o1")
    assert [(a.outcome, a.http_status) for a in tries] == [
        ("unavailable", 500),
        ("rate_limited", 501),
        ("ok", 502),
    ]
    assert all(a.at.tzinfo is UTC for a in tries)


async def test_an_account_pause_survives_a_settings_update(db: Database) -> None:
    with db.begin() as s:
        repo.upsert_account(s, "acme", {"change_api": "v2"})
        assert repo.set_account_paused(s, "acme", True, "401 from VTEX")
        repo.upsert_account(s, "acme", {"change_api": "v1"})
        assert not repo.set_account_paused(s, "nobody", True, "x")
        paused = repo.get_account(s, "acme")
        repo.set_account_paused(s, "acme", False)
        resumed = repo.get_account(s, "acme")
    assert paused is not None and (paused.paused, paused.paused_reason, paused.settings) == (
        True,
        "401 from VTEX",
        {"change_api": "v1"},
    )
    assert resumed is not None and (resumed.paused, resumed.paused_reason) == (False, None)
