"""The live progress table and the closing summary, drawn with rich."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from orderbridge.demo.observe import LiveCounts
from orderbridge.demo.truth import DemoSummary

BAR_WIDTH = 30


def _bar(part: int, whole: int) -> Text:
    filled = 0 if whole <= 0 else round(BAR_WIDTH * min(part, whole) / whole)
    return Text("█" * filled + "·" * (BAR_WIDTH - filled), style="green" if part >= whole > 0 else "cyan")


def live_table(counts: LiveCounts, elapsed_s: float) -> RenderableType:
    """Stage by stage, as the sandbox and the warehouse see it right now."""
    table = Table(title="orderbridge demo — ground truth, live", title_justify="left")
    table.add_column("stage")
    table.add_column("orders", justify="right")
    table.add_column("of created")
    rows = (
        ("created at VTEX", counts.created),
        ("handed over (ERP log)", counts.handed_over),
        ("started at VTEX", counts.started),
        ("invoiced", counts.invoiced),
        ("delivered", counts.delivered),
        ("canceled", counts.canceled),
        ("parked (ERP refused)", counts.parked),
    )
    for label, value in rows:
        table.add_row(label, str(value), _bar(value, counts.created))
    footer = Text(
        f"final {counts.final}/{counts.created} · feed depth {counts.feed_depth} · {elapsed_s:.1f} s",
        style="dim",
    )
    return Group(table, footer)


def summary_table(summary: DemoSummary) -> RenderableType:
    table = Table(title="orderbridge demo — summary (sandbox stats + warehouse log)", title_justify="left")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in summary.to_json().items():
        if isinstance(value, dict):
            value = ", ".join(f"{kind}: {len(found)}" for kind, found in value.items())
        if isinstance(value, list):
            if not value:
                continue
            value = ", ".join(map(str, value[:10])) + (" …" if len(value) > 10 else "")
        style = "bold red" if key in ("lost", "duplicated", "stranded", "invariants") and value else None
        table.add_row(key, Text(str(value), style=style or ""))
    verdict = (
        Text("nothing lost, doubled or stranded", style="bold green")
        if summary.ok
        else Text("LOST, DOUBLED OR STRANDED ORDERS — see above", style="bold red")
    )
    return Group(table, verdict)
