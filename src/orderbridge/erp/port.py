"""The ERP port: what the pipeline asks of an ERP, and the sink the ERP answers through.

The pipeline depends on these types only, never on a concrete adapter, so a simulated warehouse,
staging tables or a webhook ERP are interchangeable. Everything here is plain data plus two
Protocols; the adapters live beside this module.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import orjson

from orderbridge.core.commands import Command
from orderbridge.core.orders import OrderSnapshot
from orderbridge.core.validation import Violation


@dataclass(frozen=True)
class HandoverOrder:
    """An order as the pipeline hands it to the ERP: the normalized snapshot plus VTEX's raw document."""

    account: str
    order_id: str
    snapshot: OrderSnapshot
    document: dict[str, Any] | bytes = field(default_factory=dict)
    """VTEX's document: the dict, or its JSON text exactly as Get order answered it."""

    @property
    def raw(self) -> dict[str, Any]:
        """VTEX's document, decoded on first use: an ERP that reads only the snapshot never pays for it."""
        document = self.document
        if isinstance(document, bytes):
            document = orjson.loads(document)
            object.__setattr__(self, "document", document)  # frozen, but decoding changes nothing
        return document


@dataclass(frozen=True)
class Accepted:
    """The ERP took the order; the pipeline may now start handling it at VTEX."""

    erp_reference: str | None = None


@dataclass(frozen=True)
class Rejected:
    """A business rejection: not retried automatically, parked with `reason` for an operator."""

    reason: str


@dataclass(frozen=True)
class AcceptanceLater:
    """The ERP decides asynchronously and will call `CommandSink.report_acceptance`."""


HandoverResult = Accepted | Rejected | AcceptanceLater


@dataclass(frozen=True)
class CancellationDecision:
    """The ERP's answer to a shopper's cancellation request (accept → cancel, else deny with reason)."""

    accept: bool
    reason: str = ""


@dataclass(frozen=True)
class SubmitOutcome:
    """What the pipeline made of a submitted command: accepted and stored, or refused with problems.

    `conflict`: refused only because the command clashes with the order as VTEX has it (with what is
    accepted and not yet visible), e.g. a change removing more units than the order has; not malformed.
    `repeat`: accepted as the identical repeat of what the pipeline had already accepted (`command_id`
    is then the earlier command's); nothing new was stored or sent.
    """

    accepted: bool
    command_id: str | None
    problems: tuple[str, ...] = ()
    conflict: bool = False
    #: The refusal's reasons one by one (field as the ERP wrote it, rule), for channels that report
    #: each field apart (the REST API's `errors[]`); `problems` holds the same as sentences.
    violations: tuple[Violation, ...] = ()
    repeat: bool = False


class CommandSink(Protocol):
    """Implemented by the pipeline; the ERP's way back in (commands, late acceptance, order reads)."""

    async def submit(
        self,
        account: str,
        order_id: str,
        command: Command,
        *,
        channel: str,
        idempotency_key: str | None = None,
    ) -> SubmitOutcome: ...

    async def report_acceptance(
        self,
        account: str,
        order_id: str,
        *,
        accepted: bool,
        erp_reference: str | None = None,
        reason: str | None = None,
    ) -> SubmitOutcome:
        """Accepted (applied, or kept until the handover is recorded), an identical repeat, or refused
        with the order's state (`conflict`)."""
        ...

    async def current_order(self, account: str, order_id: str) -> OrderSnapshot | None: ...


@runtime_checkable
class ErpAdapter(Protocol):
    """One ERP. Raise `orderbridge.erp.errors.ErpUnavailable` for transient trouble (the job is retried)."""

    name: str

    async def start(self, sink: CommandSink) -> None:
        """Begin background work (if any); `sink` is how the ERP sends commands back."""
        ...

    async def stop(self) -> None: ...

    async def hand_over(self, order: HandoverOrder) -> HandoverResult:
        """May be called more than once for one order (retries): must be idempotent on the ERP side."""
        ...

    async def notify_canceled(self, account: str, order_id: str, reason: str | None) -> None: ...

    async def request_cancellation(
        self, account: str, order_id: str, request_id: str | None, reason: str | None
    ) -> CancellationDecision | None:
        """None means the decision comes later, as a Cancel/DenyCancellation command via the sink."""
        ...


@runtime_checkable
class SupportsLookup(Protocol):
    """An ERP that can say what became of an order it may already have received (optional).

    The pipeline asks `lookup` before each handover and hands the order over only if the ERP never
    received it: a crash or a lost answer after the ERP took the order then costs no second handover.
    Implement it only if it is cheap (it runs once per order); `hand_over` must stay idempotent anyway.
    """

    async def lookup(self, account: str, order_id: str) -> HandoverResult | None:
        """The ERP's decision on an order it received; None if it never received it. No side effects."""
        ...


@runtime_checkable
class HasWayBack(Protocol):
    """An adapter whose way back is a loop of its own (an inbox folder, staging tables, the simulated
    warehouse's steps). `start` runs it unless `runs_own_loop` was set False first; the pipeline does
    that and runs `run_way_back` itself, once per cluster (`orderbridge.pipeline.singletons`)."""

    name: str
    runs_own_loop: bool

    async def run_way_back(self, stop: asyncio.Event) -> None: ...
