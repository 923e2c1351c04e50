"""The live progress table (or, off a terminal, a progress line every few seconds) and the closing
summary, drawn with rich."""

from __future__ import annotations

import sys
from typing import TextIO

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


PLAIN_EVERY_S = 5.0


def progress_line(counts: LiveCounts, elapsed_s: float) -> str:
    """The live table as one line, for a file or a CI log (no cursor movement, no colour)."""
    return (
        f"demo {elapsed_s:.0f}s: final {counts.final}/{counts.created} · handed over {counts.handed_over}"
        f" · started {counts.started} · invoiced {counts.invoiced} · delivered {counts.delivered}"
        f" · canceled {counts.canceled} · parked {counts.parked} · feed depth {counts.feed_depth}"
    )


class PlainProgress:
    """Off a terminal a live table shows nothing until the end (rich draws only its last frame), so a
    long demo piped to a file would look hung: print one progress line every `every_s` seconds of the
    demo instead, flushed at once, and the last state when it ends."""

    def __init__(self, out: TextIO | None = None, every_s: float = PLAIN_EVERY_S) -> None:
        self._out = out or sys.stdout
        self._every_s = every_s
        self._printed_at: float | None = None
        self._latest: tuple[LiveCounts, float] | None = None

    def __call__(self, counts: LiveCounts, elapsed_s: float) -> None:
        self._latest = (counts, elapsed_s)
        if self._printed_at is None or elapsed_s - self._printed_at >= self._every_s:
            self._print(counts, elapsed_s)

    def finish(self) -> None:
        if self._latest is not None and self._latest[1] != self._printed_at:
            self._print(*self._latest)

    def _print(self, counts: LiveCounts, elapsed_s: float) -> None:
        self._printed_at = elapsed_s
        self._out.write(progress_line(counts, elapsed_s) + "\n")
        self._out.flush()


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
