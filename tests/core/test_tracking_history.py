"""An invoice's tracking history, sent whole each time (VTEX replaces the list it is given)."""

from __future__ import annotations

from orderbridge.core.commands import TrackingEvent, TrackingEventsCommand, with_history

COLLECTED = TrackingEvent("Sao Paulo", "SP", "Collected", "2026-11-27T12:00:00Z")
IN_TRANSIT = TrackingEvent("Campinas", "SP", "In transit", "2026-11-27T18:00:00Z")
DELIVERED = TrackingEvent("Rio", "RJ", "Delivered", "2026-11-28T10:00:00Z")


def test_a_new_event_comes_after_the_history_already_accepted() -> None:
    command = TrackingEventsCommand("NF-1", True, (DELIVERED,), "2026-11-28T10:00:00Z")
    merged = with_history(command, [COLLECTED, IN_TRANSIT])
    assert merged.events == (COLLECTED, IN_TRANSIT, DELIVERED)
    assert (merged.is_delivered, merged.delivered_date) == (True, "2026-11-28T10:00:00Z")


def test_an_erp_resending_its_whole_list_repeats_no_event() -> None:
    command = TrackingEventsCommand("NF-1", False, (COLLECTED, IN_TRANSIT))
    assert with_history(command, [COLLECTED, COLLECTED]).events == (COLLECTED, IN_TRANSIT)
