"""The invariant checker: exactly-once judged from ground truth — what VTEX (the sandbox's ledger)
applied, what the ERP (the warehouse's own log) received and asked for, and which jobs the pipeline's
database still holds. Used by `orderbridge chaos`, `orderbridge demo` and the tests. See docs/chaos.md."""

from orderbridge.audit.check import InvariantReport, Violation, check_invariants
from orderbridge.audit.truth import (
    AppliedChange,
    AskedChange,
    ErpOrder,
    GroundTruth,
    PipelineOrder,
    VtexOrder,
)

__all__ = [
    "AppliedChange",
    "AskedChange",
    "ErpOrder",
    "GroundTruth",
    "InvariantReport",
    "PipelineOrder",
    "Violation",
    "VtexOrder",
    "check_invariants",
]
