"""Counters a test can trust as ground truth (what the sandbox saw and accepted)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any


def _invoice_row() -> dict[str, int]:
    # repeats: POSTs of an invoice number the order already had (never refused, never a new package).
    return {"posts": 0, "packages": 0, "output_cents": 0, "repeats": 0}


@dataclass
class Stats:
    calls: defaultdict[str, defaultdict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    start_handling: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    invoices: defaultdict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(_invoice_row))
    cancels: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))

    def call(self, endpoint: str, status: int) -> None:
        self.calls[endpoint][str(status)] += 1

    def to_json(self) -> dict[str, Any]:
        return {
            "calls": {k: dict(v) for k, v in self.calls.items()},
            "start_handling": dict(self.start_handling),
            "invoices": {k: dict(v) for k, v in self.invoices.items()},
            "cancels": dict(self.cancels),
        }
