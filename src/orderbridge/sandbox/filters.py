"""The feed/hook filter: `FromWorkflow` (status list) or `FromOrders` (JSONata on the document)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jsonata

from orderbridge.sandbox.responses import ProblemError

# The seed feed of `--seed-orders`: what an ERP integration listens to.
SEED_STATUSES = ["ready-for-handling", "handling", "cancellation-requested", "canceled", "invoiced"]


@dataclass
class OrderFilter:
    """`status` None means "every status change" (VTEX's behaviour when no filter is configured)."""

    type: str = "FromWorkflow"
    status: list[str] | None = None
    expression: str | None = None
    disable_single_fire: bool = False
    _compiled: Any = field(default=None, repr=False, compare=False)

    def wants_status(self, status: str) -> bool:
        """FromWorkflow: does a change *into* `status` pass? (Strings are not validated, as at VTEX.)"""
        return self.type == "FromWorkflow" and (self.status is None or status in self.status)

    def wants_document(self, order: dict[str, Any]) -> bool:
        """FromOrders: does the expression hold on this version of the document? Undefined is false."""
        if self.type != "FromOrders" or self._compiled is None:
            return False
        try:
            return self._compiled.evaluate(order) is True
        except Exception:
            return False

    def to_json(self) -> dict[str, Any]:
        if self.type == "FromOrders":
            return {
                "type": "FromOrders",
                "expression": self.expression or "",
                "disableSingleFire": self.disable_single_fire,
            }
        body: dict[str, Any] = {"type": "FromWorkflow"}
        if self.status is not None:
            body["status"] = list(self.status)
        return body


def compile_expression(expression: str) -> Any:
    """Compile once; a syntax error is the client's 400."""
    try:
        return jsonata.Jsonata(expression)
    except Exception as exc:
        raise ProblemError(400, "Invalid JSONata expression", {"Expression": [str(exc)]}) from exc


def parse_filter(raw: Any) -> OrderFilter:
    """Read a `filter` object; mixing FromWorkflow and FromOrders fields is VTEX's 409 Conflict."""
    if raw is None:
        return OrderFilter()
    if not isinstance(raw, dict):
        raise ProblemError(400, "One or more validation errors occurred.", {"Filter": ["Invalid filter."]})
    ftype = raw.get("type")
    status, expression = raw.get("status"), raw.get("expression")
    if ftype == "FromWorkflow":
        if expression is not None:
            raise ProblemError(409, "FromWorkflow filters accept only `status`, not `expression`.")
        if status is not None and not (isinstance(status, list) and all(isinstance(s, str) for s in status)):
            raise ProblemError(
                400,
                "One or more validation errors occurred.",
                {"Filter.Status": ["Must be a list of strings."]},
            )
        return OrderFilter("FromWorkflow", list(status) if status is not None else None)
    if ftype == "FromOrders":
        if status is not None:
            raise ProblemError(409, "FromOrders filters accept only `expression`, not `status`.")
        if not isinstance(expression, str) or not expression.strip():
            raise ProblemError(
                400,
                "One or more validation errors occurred.",
                {"Filter.Expression": ["The Expression field is required."]},
            )
        return OrderFilter(
            "FromOrders",
            None,
            expression,
            bool(raw.get("disableSingleFire", False)),
            compile_expression(expression),
        )
    raise ProblemError(
        400,
        "One or more validation errors occurred.",
        {"Filter.Type": ["Type must be FromWorkflow or FromOrders."]},
    )
