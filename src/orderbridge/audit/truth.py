"""The checker's inputs: one typed record per order from each side, read by `orderbridge.audit.gather`
(or built by hand in tests). Nothing here is the pipeline's belief about VTEX or the ERP: the VTEX side
is what the sandbox applied, the ERP side what the warehouse logged; from the pipeline's database only
its unfinished jobs and operators' retries are taken (what may still legitimately happen, and what an
operator allowed)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Units = Mapping[str, int]
"""SKU -> units."""


@dataclass(frozen=True, slots=True)
class AppliedChange:
    """An item change VTEX applied to the order."""

    api: str
    request_id: str
    added: Units = field(default_factory=dict)
    removed: Units = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AskedChange:
    """An item change the ERP planned to ask for (its own request id, what it adds and removes)."""

    request_id: str
    added: Units = field(default_factory=dict)
    removed: Units = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class VtexOrder:
    status: str | None
    delivered: bool = False
    start_handling: int = 0
    cancels: int = 0
    invoices: Mapping[str, int] = field(default_factory=dict)
    """Invoice number -> POSTs VTEX accepted for it (1 made the package; more are repeats)."""
    changes: tuple[AppliedChange, ...] = ()

    @property
    def final(self) -> bool:
        """Nothing more will happen to it: canceled, or invoiced and delivered."""
        return self.status == "canceled" or (self.status == "invoiced" and self.delivered)


ErpDecision = Literal["accepted", "rejected"]


@dataclass(frozen=True, slots=True)
class ErpOrder:
    handovers: int = 0
    decision: ErpDecision | None = None
    """None: the ERP never decided (never received it)."""
    state: str = ""
    """The warehouse's state of its plan: active, done, delivered, canceled, gave_up, rejected ..."""
    asked_changes: tuple[AskedChange, ...] = ()
    invoice_numbers: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class PipelineOrder:
    pending_jobs: int = 0
    """Jobs of the order's lock that are ready, running or waiting to retry."""
    operator_retries: int = 0
    """Times an operator cleared the order's park (`orderbridge orders retry`)."""
    state: str | None = None


@dataclass(frozen=True, slots=True)
class GroundTruth:
    vtex: Mapping[str, VtexOrder]
    erp: Mapping[str, ErpOrder]
    pipeline: Mapping[str, PipelineOrder]
    feed_depth: int = 0
