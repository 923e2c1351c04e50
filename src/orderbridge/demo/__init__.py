"""`orderbridge demo`: the whole system on one machine — sandbox, pipeline, simulated warehouse — judged
by ground truth (the sandbox's stats and the warehouse's handover log). See docs/demo.md."""

from orderbridge.demo.runner import run_demo
from orderbridge.demo.scenario import DemoOptions
from orderbridge.demo.truth import DemoSummary, summarize

__all__ = ["DemoOptions", "DemoSummary", "run_demo", "summarize"]
