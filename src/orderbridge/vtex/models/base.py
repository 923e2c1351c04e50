"""Shared model configuration and lenient field types.

Two kinds of models: what VTEX sends us (``VtexResponse``: unknown fields are kept, never
rejected, because VTEX adds fields without notice) and what we send VTEX (``VtexRequest``: unknown
fields are a bug on our side and are refused). Python names are snake_case; the wire names are
VTEX's camelCase aliases, and either may be used to build a model.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, TypeAdapter, ValidationError
from pydantic.alias_generators import to_camel

_DATETIME = TypeAdapter(datetime)


def lenient_datetime(value: Any) -> datetime | None:
    """Parse VTEX timestamps (7 fractional digits are fine); anything unreadable becomes None.

    An odd date must not make a whole order unreadable; the raw document keeps the original text.
    """
    if value is None or value == "":
        return None
    try:
        return _DATETIME.validate_python(value)
    except ValidationError:
        return None


# .NET's `DateTime.MinValue` ("0001-01-01T00:00:00"): what VTEX's hook sends for a change time it does
# not have (e.g. `CurrentChange` of a `FromOrders` notification). It is no time at all.
_DOTNET_MIN_DATE = "0001-01-01"
# What VTEX's hook sends for a state it does not have (sic, and its spelled-out twin).
_UNKNOWN_STATES = frozenset({"", "unknow", "unknown"})


def known_stamp(value: str | None) -> str | None:
    """A change time as sent, or None when absent, empty or .NET's `DateTime.MinValue`."""
    if not value or value.startswith(_DOTNET_MIN_DATE):
        return None
    return value


def known_state(value: str | None) -> str | None:
    """An order state as sent, or None when absent or VTEX's "unknow"."""
    if value is None or value.strip().lower() in _UNKNOWN_STATES:
        return None
    return value


def _none_to_empty_list(value: Any) -> Any:
    return [] if value is None else value


def _cents(value: Any) -> Any:
    """Integer cents; a float that VTEX's search index rounded badly (e.g. 7453.000001) is rounded back."""
    if isinstance(value, float):
        return round(value)
    return value


LenientDatetime = Annotated[datetime | None, BeforeValidator(lenient_datetime)]
Cents = Annotated[int, BeforeValidator(_cents)]


def list_or_empty() -> Any:
    """Validator for list fields VTEX sometimes sends as ``null``."""
    return BeforeValidator(_none_to_empty_list)


class VtexResponse(BaseModel):
    """A document VTEX sent: tolerant, keeps unknown fields (in ``model_extra``)."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        extra="allow",
        coerce_numbers_to_str=True,
    )


class VtexRequest(BaseModel):
    """A body we send VTEX. ``to_vtex()`` gives the JSON-ready dict with VTEX's key names."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        extra="forbid",
    )

    omit_none: ClassVar[bool] = False
    """True for bodies where an absent optional field must not be sent as ``null``."""

    def to_vtex(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=self.omit_none)
