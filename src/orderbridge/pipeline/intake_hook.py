"""Moment 1, push side: a VTEX hook notification, stored with its sync job before the 200.

VTEX wants a 200 within 5 s; storing one row and one job takes milliseconds, and nothing else (no Get
order, no ERP) happens before the answer. The shared secret travels in a header VTEX sends with every
notification (configured in the hook's `headers`); it is compared in constant time.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from orderbridge.vtex import HookNotification, HookPing, parse_hook_body

from .deps import PipelineDeps
from .intake import IncomingEvent, change_key, store_events


@dataclass(frozen=True, slots=True)
class HookReply:
    status: int
    body: dict[str, Any]


def secret_matches(expected: str | None, given: str | None) -> bool:
    """No secret configured refuses every notification: an open receiver would let anyone inject work."""
    if not expected or given is None:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


async def receive_hook(deps: PipelineDeps, account: str, body: Any, secret: str | None) -> HookReply:
    """Answer the ping, check the secret, store the notification with its sync job, then say 200."""
    if account not in deps.accounts:
        return HookReply(404, {"error": f"unknown account {account!r}"})
    if not isinstance(body, dict):
        return HookReply(400, {"error": "the body must be a JSON object"})
    try:
        parsed = parse_hook_body(body)
    except ValidationError:
        return HookReply(400, {"error": "not a VTEX hook notification"})
    if isinstance(parsed, HookPing):
        return HookReply(200, {"ok": True})
    if not secret_matches(deps.policy(account).hook_secret, secret):
        return HookReply(401, {"error": "missing or wrong hook secret"})
    await store_events(deps, account, "hook", [to_event(parsed, body)])
    return HookReply(200, {"ok": True})


def to_event(notification: HookNotification, raw: dict[str, Any]) -> IncomingEvent:
    """A `FromOrders` notification may say `"State": "unknow"` and `DateTime.MinValue` for its change
    time: both count as absent, and the event is keyed by `LastChange` or by its body instead."""
    return IncomingEvent(
        order_id=notification.order_id,
        state=notification.known_state,
        last_state=notification.last_state,
        current_change=change_key(notification.change_stamp, raw),
        raw=raw,
    )
