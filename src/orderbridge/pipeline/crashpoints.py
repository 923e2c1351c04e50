"""Named places where the crash test may kill the pipeline with SIGKILL, to prove exactly-once effects.

`crashpoint(name)` does nothing unless the environment says `ORDERBRIDGE_CRASH_AT=name:N`; then the
N-th time this process reaches `name` it sends itself SIGKILL — no `finally`, no flush, no goodbye,
exactly like a power cut or the OOM killer. The check is one dict lookup, so the calls stay in
production code at no measurable cost.

The points (each sits between an effect and the record of that effect, where a crash hurts most):
"""

from __future__ import annotations

import os
import signal

CRASH_ENV = "ORDERBRIDGE_CRASH_AT"

EVENT_STORED = "event_stored"
"""A feed event is stored (its transaction committed) and its handle is not yet committed at VTEX."""
ERP_ACCEPTED = "erp_accepted"
"""The ERP accepted the handover and the pipeline has not yet recorded it nor started handling."""
START_ANSWERED = "start_answered"
"""VTEX answered start-handling and the pipeline has not yet recorded it."""
INVOICE_ANSWERED = "invoice_answered"
"""VTEX answered an invoice POST and the pipeline has not yet recorded it."""

POINTS = (EVENT_STORED, ERP_ACCEPTED, START_ANSWERED, INVOICE_ANSWERED)


def _parse(spec: str | None) -> tuple[str, int] | None:
    """`"name:N"` → (name, N); anything else (unset, malformed, N < 1) → None: never crash by accident."""
    if not spec:
        return None
    name, _, count = spec.partition(":")
    try:
        nth = int(count)
    except ValueError:
        return None
    return (name, nth) if name and nth >= 1 else None


_target = _parse(os.environ.get(CRASH_ENV))
_reached: dict[str, int] = {}


def crashpoint(name: str) -> None:
    """Die here, by SIGKILL, if the environment chose this point and this is its N-th visit."""
    if _target is None or _target[0] != name:
        return
    _reached[name] = _reached.get(name, 0) + 1
    if _reached[name] == _target[1]:
        os.kill(os.getpid(), signal.SIGKILL)


def arm(spec: str | None) -> None:
    """Re-read the target (tests of this module; the process itself reads the env once at import)."""
    global _target
    _target = _parse(spec)
    _reached.clear()
