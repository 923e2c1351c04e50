"""`orderbridge chaos`: thousands of orders through their whole life under a flaky VTEX, a demanding
warehouse, shoppers who cancel and repeated SIGKILLs of the pipeline — then the invariant checker
(`orderbridge.audit`) says whether anything was stranded or doubled. See docs/chaos.md."""

from orderbridge.chaos.runner import ChaosResult, run_chaos
from orderbridge.chaos.scenario import FAULT_PROFILES, ChaosOptions

__all__ = ["FAULT_PROFILES", "ChaosOptions", "ChaosResult", "run_chaos"]
