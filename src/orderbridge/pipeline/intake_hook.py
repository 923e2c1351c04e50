"""Moment 1, push side: a VTEX hook notification, stored with its sync job before the 200.

VTEX wants a 200 within 5 s; storing one row and one job takes milliseconds, and nothing else (no Get
order, no ERP) happens before the answer. The shared secret travels in a header VTEX sends with every
notification and with its ping (configured in the hook's `headers`). The receiver checks it before it
reads the body (`hook_authorized`), in constant time, and answers an unknown account exactly as a wrong
secret, so neither the accounts served nor a secret's prefix can be probed.
"""

from __future__ import annotations

import hmac
import secrets
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


#: The one answer to an unknown account, a missing secret and a wrong one (nothing tells them apart).
UNAUTHORIZED = HookReply(401, {"error": "missing or wrong hook secret"})
# Compared with when the account is unknown (or has no secret), so that case costs the same time.
_NO_SECRET = secrets.token_bytes(32)


def secret_matches(expected: str | None, given: str | None) -> bool:
    """No secret configured refuses every notification: an open receiver would let anyone inject work."""
    presented = (given or "").encode()
    if not expected:
        hmac.compare_digest(presented, _NO_SECRET)  # the same work as a real comparison, result unused
        return False
    return hmac.compare_digest(expected.encode(), presented)


def hook_authorized(deps: PipelineDeps, account: str, given: str | None) -> bool:
    """The header's secret matches the account's (an unknown account matches nothing, in the same time)."""
    policy = deps.accounts.get(account)
    return secret_matches(policy.hook_secret if policy is not None else None, given)


async def receive_hook(deps: PipelineDeps, account: str, body: Any) -> HookReply:
    """Answer the ping, store the notification with its sync job, then say 200. The caller has checked
    the secret with `hook_authorized` before reading the body."""
    if account not in deps.accounts:
        return UNAUTHORIZED
    if not isinstance(body, dict):
        return HookReply(400, {"error": "the body must be a JSON object"})
    try:
        parsed = parse_hook_body(body)
    except ValidationError:
        return HookReply(400, {"error": "not a VTEX hook notification"})
    if isinstance(parsed, HookPing):
        return HookReply(200, {"ok": True})
    await store_events(deps, account, "hook", [to_event(parsed, body)])
    return HookReply(200, {"ok": True})


def without_app_key(raw: dict[str, Any]) -> dict[str, Any]:
    """The body as stored: `Origin.Key` is the account's VTEX appKey (a credential half the configuration
    keeps secret), so it is dropped; `Origin.Account` stays."""
    origin = raw.get("Origin")
    if not isinstance(origin, dict):
        return raw
    kept = {name: value for name, value in origin.items() if name.lower() != "key"}
    return {**raw, "Origin": kept}


def to_event(notification: HookNotification, raw: dict[str, Any]) -> IncomingEvent:
    """A `FromOrders` notification may say `"State": "unknow"` and `DateTime.MinValue` for its change
    time: both count as absent, and the event is keyed by `LastChange` or by its body instead."""
    raw = without_app_key(raw)
    return IncomingEvent(
        order_id=notification.order_id,
        state=notification.known_state,
        last_state=notification.last_state,
        current_change=change_key(notification.change_stamp, raw),
        raw=raw,
    )
