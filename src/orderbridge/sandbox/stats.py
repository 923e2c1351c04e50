"""Counters a test can trust as ground truth (what the sandbox saw and accepted)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any


def _invoice_row() -> dict[str, int]:
    # repeats: POSTs of an invoice number the order already had (never refused, never a new package).
    return {"posts": 0, "packages": 0, "output_cents": 0, "repeats": 0}


def _units(lines: list[dict[str, Any]]) -> dict[str, int]:
    """Item lines as SKU -> units (a SKU may appear on several lines)."""
    units: dict[str, int] = {}
    for line in lines:
        units[str(line["id"])] = units.get(str(line["id"]), 0) + int(line["quantity"])
    return units


@dataclass
class Stats:
    calls: defaultdict[str, defaultdict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    start_handling: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    invoices: defaultdict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(_invoice_row))
    cancels: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    # Per order: invoice number -> POSTs VTEX accepted for it (the first made the package; more are repeats).
    invoice_numbers: defaultdict[str, defaultdict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    # Per order: every item change VTEX applied, in order (what `/_sandbox/ledger` shows).
    changes: defaultdict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    # Per order, on the sandbox clock: when it first became ready-for-handling and when VTEX first
    # accepted its start-handling (what `bench/latency.py` measures the pipeline's latency from).
    ready_at: dict[str, float] = field(default_factory=dict)
    started_at: dict[str, float] = field(default_factory=dict)

    def change_applied(
        self,
        order_id: str,
        api: str,
        request_id: str,
        added: list[dict[str, Any]],
        removed: list[dict[str, Any]],
    ) -> None:
        self.changes[order_id].append(
            {
                "api": api,
                "request_id": request_id,
                "added": _units(added),
                "removed": _units(removed),
            }
        )

    def call(self, endpoint: str, status: int) -> None:
        self.calls[endpoint][str(status)] += 1

    def to_json(self) -> dict[str, Any]:
        return {
            "calls": {k: dict(v) for k, v in self.calls.items()},
            "start_handling": dict(self.start_handling),
            "invoices": {k: dict(v) for k, v in self.invoices.items()},
            "cancels": dict(self.cancels),
        }
