"""What the ERP-facing API answers (response bodies), as pydantic models so the OpenAPI document is exact.

Request bodies are the shared wire models of `orderbridge.erp.parsing`, so the REST API, staging tables
and files speak one vocabulary.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from orderbridge.core.decisions import PipelineState


class AttemptView(BaseModel):
    commandId: str | None = None
    action: str
    outcome: str
    httpStatus: int | None = None
    detail: str | None = None
    at: str


class CommandView(BaseModel):
    """A command as orderbridge holds it: pending, sent (VTEX's receipt), rejected by VTEX (its message)."""

    commandId: str
    account: str
    orderId: str
    kind: str
    status: str = Field(description="pending, sending, sent, confirmed, rejected or failed.")
    channel: str | None = None
    payload: dict[str, Any] = Field(description="The command as orderbridge stored it (camelCase).")
    vtexReceipt: dict[str, Any] | None = None
    error: str | None = None
    createdAt: str | None = None
    updatedAt: str | None = None
    attempts: list[AttemptView] = Field(default_factory=list)


class OrderSummary(BaseModel):
    account: str
    orderId: str
    vtexStatus: str | None = None
    pipelineState: PipelineState | None = Field(
        default=None,
        description="Where the pipeline is with the order; each state is described in docs/erp-api.md.",
    )
    valueCents: int | None = None
    lastChange: str | None = None
    erpReference: str | None = None
    parkReason: str | None = None
    updatedAt: str | None = None


class OrderDetail(OrderSummary):
    """The normalized order, VTEX's raw document, and everything that happened to it."""

    order: dict[str, Any] | None = Field(
        default=None,
        description="The normalized order orderbridge judges commands against (camelCase: `orderId`, "
        "`status`, `valueCents`, `items[]` with `skuId`, `quantity`, `unitPriceCents`, `packages[]` …).",
    )
    raw: dict[str, Any] | None = Field(default=None, description="VTEX's Get order document.")
    commands: list[CommandView] = Field(default_factory=list)
    attempts: list[AttemptView] = Field(default_factory=list)


class OrderPage(BaseModel):
    items: list[OrderSummary]
    limit: int
    offset: int
    nextOffset: int | None = Field(description="Pass as `offset` for the next page; null on the last one.")


class CommandAccepted(BaseModel):
    """The command passed validation and is stored; it will be relayed to VTEX. Follow `commandId`.

    An identical repeat of a command already accepted is answered with that first command (and
    `Idempotent-Replayed: true`), its status as it is now."""

    commandId: str
    account: str
    orderId: str
    status: str = Field(
        default="pending",
        description="`pending` for a new command; for a repeat, the first command's status now.",
    )


class AcceptanceRecorded(BaseModel):
    account: str
    orderId: str
    accepted: bool


class ComponentHealth(BaseModel):
    ok: bool
    detail: str | None = None


class Health(BaseModel):
    """Without a valid token only `status`; with one, the database and each account too."""

    status: Literal["ok", "degraded"]
    database: ComponentHealth | None = None
    accounts: dict[str, ComponentHealth] | None = None
