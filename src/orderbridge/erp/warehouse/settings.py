"""Knobs of the simulated warehouse. Defaults suit a demo of a few hundred orders finishing in seconds."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class WarehouseSettings(BaseModel):
    """How the simulated warehouse behaves; every ratio is a probability in [0, 1], drawn per order.

    Draws are seeded by `seed`, the account and the order id, so the same order gets the same plan in
    every run and in every process, whatever order the handovers arrive in.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    database: str = Field(
        default="orderbridge-warehouse.db",
        description="SQLite file (or sqlite:/// URL) holding the warehouse's handover log and plans.",
    )
    seed: int = Field(default=42, description="Seed of every per-order draw.")
    reject_ratio: float = Field(default=0.0, ge=0, le=1, description="Orders refused at handover.")
    accept_later_ratio: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Accepted orders whose acceptance is reported later through the sink, not at handover.",
    )
    fulfil: bool = Field(
        default=True,
        description="False: accept or reject only; no changes, invoices or tracking (benchmarks).",
    )
    self_cancel_ratio: float = Field(
        default=0.02, ge=0, le=1, description="Accepted orders the warehouse later cancels itself."
    )
    out_of_stock_ratio: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="Orders that lose one unit of an item (a Change) before invoicing.",
    )
    partial_invoice_ratio: float = Field(
        default=0.2, ge=0, le=1, description="Orders invoiced in two partial invoices instead of one."
    )
    deny_cancellation_ratio: float = Field(
        default=0.0, ge=0, le=1, description="Shoppers' cancellation requests the warehouse denies."
    )
    first_step_delay_s: float = Field(
        default=0.5, ge=0, description="Wait after accepting an order before its first step."
    )
    step_delay_s: float = Field(default=0.2, ge=0, description="Wait between two steps of one order.")
    retry_delay_s: float = Field(
        default=0.2, ge=0, description="First wait before retrying a refused step; doubles per attempt."
    )
    max_retry_delay_s: float = Field(
        default=2.0, ge=0, description="Longest wait between two attempts of one step."
    )
    max_step_attempts: int = Field(
        default=60, ge=1, description="Attempts of one step before the warehouse gives the order up."
    )
    resubmit_after: int = Field(
        default=5,
        ge=1,
        description="Attempts a step waits for an earlier invoice to show before resubmitting it.",
    )
    max_resubmits: int = Field(
        default=2,
        ge=0,
        description="How often one order's invoices may be resubmitted (a change never is).",
    )
    tracking_events: int = Field(
        default=2, ge=0, le=20, description="Tracking updates per invoice before the one that says delivered."
    )
    batch_size: int = Field(default=64, ge=1, le=1000, description="Due steps run per loop turn.")
    idle_poll_s: float = Field(
        default=1.0, gt=0, description="Longest sleep of the step loop when nothing is due."
    )
    invoice_prefix: str = Field(
        default="WH",
        pattern=r"^[A-Za-z0-9]{1,10}$",
        description="Prefix of invoice numbers (alphanumeric: VTEX must route them).",
    )
    courier: str = Field(default="Simulated Courier", min_length=1, description="Courier name on invoices.")
