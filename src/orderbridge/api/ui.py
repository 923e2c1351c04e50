"""The operators' dashboard (`/ui`): server-rendered Jinja2 pages, kept live by htmx polling.

Sign-in: an API token (one of `api.tokens`) is posted once; the answer is an HttpOnly, SameSite=Strict
session cookie signed with this process's random key (a restart signs everyone out). The cookie holds a
fingerprint of the token, never the token, and is refused once that token leaves the configuration.
Every POST carries the session's CSRF token. Data comes from `pipeline.operators` and
`pipeline.oversight`, the same functions as the CLI's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import SecretStr
from sqlalchemy import func, select

from orderbridge.api.auth import BearerAuth
from orderbridge.core.decisions import PipelineState
from orderbridge.metrics import VTEX_LAST_MINUTE, last_feed_reads, vtex_totals
from orderbridge.pipeline import operators, oversight
from orderbridge.pipeline.deps import PipelineDeps
from orderbridge.store import tables

COOKIE = "orderbridge_session"
LOGIN_COOKIE = "orderbridge_login"
SESSION_HOURS = 12
PAGE_SIZE = 50
STATIC_DIR = Path(__file__).parent / "static"
_STATIC = {"htmx.min.js": "text/javascript", "ui.css": "text/css"}

_templates = Environment(
    loader=PackageLoader("orderbridge.api", "templates"), autoescape=select_autoescape(["html"])
)


def fingerprint(token: str) -> str:
    """What identifies a token in a session and in the audit trail (never the token itself)."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def money(cents: int | None, currency: str | None = None) -> str:
    if cents is None:
        return ""
    text = f"{cents / 100:,.2f}"
    return f"{currency} {text}" if currency else text


_templates.filters["money"] = money


@dataclass(frozen=True)
class Session:
    who: str
    csrf: str


class Signer:
    """HMAC-SHA256 over a JSON payload; the key lives only in this process."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or secrets.token_bytes(32)

    def sign(self, payload: dict[str, Any]) -> str:
        body = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()
        return f"{body}.{self._mac(body)}"

    def unsign(self, value: str | None) -> dict[str, Any] | None:
        if not value or "." not in value:
            return None
        body, _, mac = value.rpartition(".")
        if not hmac.compare_digest(mac, self._mac(body)):
            return None
        try:
            payload = json.loads(base64.urlsafe_b64decode(body.encode()))
        except ValueError:
            return None
        return payload if isinstance(payload, dict) else None

    def _mac(self, body: str) -> str:
        return hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()


class _SignIn(Exception):
    """Raised to send the browser to the sign-in page."""


def ui_router(
    deps: PipelineDeps,
    tokens: Iterable[str | SecretStr],
    thresholds: oversight.StuckThresholds,
    *,
    secure_cookie: bool = False,
) -> APIRouter:
    raw = [t.get_secret_value() if isinstance(t, SecretStr) else t for t in tokens]
    auth = BearerAuth(raw)
    allowed = {fingerprint(t) for t in raw if t}
    signer = Signer()
    router = APIRouter(prefix="/ui", include_in_schema=False)

    def session_of(request: Request) -> Session:
        payload = signer.unsign(request.cookies.get(COOKIE))
        if payload is None or payload.get("fp") not in allowed or float(payload.get("exp", 0)) < time.time():
            raise _SignIn()
        return Session(who=f"console:{payload['fp'][:8]}", csrf=str(payload["csrf"]))

    def checked(request: Request, csrf: str) -> Session:
        session = session_of(request)
        if not hmac.compare_digest(csrf, session.csrf):
            raise _SignIn()
        return session

    def page(name: str, request: Request, session: Session | None, **context: Any) -> HTMLResponse:
        template = _templates.get_template(name)
        partial = request.headers.get("HX-Request") == "true" and request.headers.get("HX-Target") == "live"
        html = template.render(
            request=request,
            session=session,
            partial=partial,
            nav=request.url.path,
            accounts=sorted(deps.accounts),
            **context,
        )
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    @router.get("/login")
    async def login_form(request: Request, error: str | None = None) -> HTMLResponse:
        nonce = secrets.token_urlsafe(16)
        response = page("login.html", request, None, nonce=nonce, error=error)
        response.set_cookie(
            LOGIN_COOKIE, nonce, httponly=True, samesite="strict", secure=secure_cookie, path="/ui"
        )
        return response

    @router.post("/login")
    async def login(request: Request, token: str = Form(""), nonce: str = Form("")) -> Response:
        expected = request.cookies.get(LOGIN_COOKIE, "")
        if not expected or not hmac.compare_digest(nonce, expected) or not auth.is_valid(token.strip()):
            return RedirectResponse("/ui/login?error=1", status_code=303)
        payload = {
            "fp": fingerprint(token.strip()),
            "csrf": secrets.token_urlsafe(24),
            "exp": time.time() + SESSION_HOURS * 3600,
        }
        response = RedirectResponse("/ui", status_code=303)
        response.set_cookie(
            COOKIE,
            signer.sign(payload),
            max_age=SESSION_HOURS * 3600,
            httponly=True,
            samesite="strict",
            secure=secure_cookie,
            path="/ui",
        )
        response.delete_cookie(LOGIN_COOKIE, path="/ui")
        return response

    @router.post("/logout")
    async def logout(request: Request, csrf: str = Form("")) -> Response:
        checked(request, csrf)
        response = RedirectResponse("/ui/login", status_code=303)
        response.delete_cookie(COOKIE, path="/ui")
        return response

    @router.get("")
    async def overview(request: Request) -> HTMLResponse:
        session = session_of(request)
        rows, channels = await _overview(deps, thresholds)
        return page(
            "overview.html",
            request,
            session,
            rows=rows,
            channels=channels,
            rules=oversight.STUCK_RULES,
            thresholds=thresholds,
        )

    @router.get("/orders")
    async def orders_page(
        request: Request,
        account: str = "",
        state: str = "",
        vtex_status: str = "",
        older_than_min: float | None = None,
        q: str = "",
        stuck: str = "",
        page_no: int = 1,
    ) -> HTMLResponse:
        session = session_of(request)
        flt = oversight.OrderFilter(
            account or None, state or None, vtex_status or None, older_than_min, q or None, stuck or None
        )
        page_no = max(page_no, 1)
        rows, total = await oversight.search_orders(
            deps.db, flt, thresholds, limit=PAGE_SIZE, offset=(page_no - 1) * PAGE_SIZE
        )
        query = {k: v for k, v in request.query_params.items() if k != "page_no" and v}
        return page(
            "orders.html",
            request,
            session,
            rows=rows,
            total=total,
            flt=flt,
            page_no=page_no,
            pages=max(1, -(-total // PAGE_SIZE)),
            query=urlencode(query),
            states=[s.value for s in PipelineState],
            rules=oversight.STUCK_RULES,
        )

    @router.get("/orders/{account}/{order_id}")
    async def order_page(request: Request, account: str, order_id: str) -> HTMLResponse:
        session = session_of(request)
        shown = await operators.show_order(deps.db, account, order_id)
        if shown is None:
            return page("missing.html", request, session, account=account, order_id=order_id)
        order = shown["order"]
        snapshot = order.get("raw") or order.get("snapshot") or {}
        currency = (snapshot.get("storePreferencesData") or {}).get("currencyCode") if snapshot else None
        return page(
            "order.html",
            request,
            session,
            order=order,
            currency=currency,
            jobs=shown["jobs"],
            timeline=await oversight.timeline(deps.db, account, order_id),
            document=json.dumps(snapshot, indent=2, ensure_ascii=False, sort_keys=True),
        )

    @router.get("/parked")
    async def parked_page(request: Request, account: str = "", done: str = "") -> HTMLResponse:
        session = session_of(request)
        rows = await oversight.parked_orders(deps.db, account or None)
        return page("parked.html", request, session, rows=rows, account=account, done=done)

    @router.post("/parked/retry")
    async def retry_one(
        request: Request, account: str = Form(...), order_id: str = Form(...), csrf: str = Form("")
    ) -> Response:
        session = checked(request, csrf)
        await operators.retry_order(deps.db, deps.queue, account, order_id, who=session.who)
        return RedirectResponse(f"/ui/parked?done=retried+{order_id}", status_code=303)

    @router.post("/parked/retry-all")
    async def retry_all(request: Request, account: str = Form(""), csrf: str = Form("")) -> Response:
        session = checked(request, csrf)
        results = await oversight.retry_parked(deps.db, deps.queue, account or None, who=session.who)
        suffix = f"&account={account}" if account else ""
        return RedirectResponse(f"/ui/parked?done=retried+{len(results)}+orders{suffix}", status_code=303)

    @router.post("/parked/resolve")
    async def resolve(
        request: Request,
        account: str = Form(...),
        order_id: str = Form(...),
        note: str = Form(...),
        csrf: str = Form(""),
    ) -> Response:
        session = checked(request, csrf)
        await oversight.mark_resolved(deps.db, account, order_id, who=session.who, note=note.strip() or "-")
        return RedirectResponse(f"/ui/parked?done=resolved+{order_id}", status_code=303)

    @router.get("/static/{name}")
    async def static(name: str) -> Response:
        if name not in _STATIC:
            return Response(status_code=404)
        return FileResponse(STATIC_DIR / name, media_type=_STATIC[name])

    return router


def sign_in_redirect(request: Request, exc: Exception) -> Response:
    """The app's handler for `_SignIn`: htmx gets a full-page redirect, a browser a 303."""
    if request.headers.get("HX-Request") == "true":
        return Response(status_code=204, headers={"HX-Redirect": "/ui/login"})
    return RedirectResponse("/ui/login", status_code=303)


SignInRequired = _SignIn


async def _overview(
    deps: PipelineDeps, thresholds: oversight.StuckThresholds
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """The accounts' rows, and the ERP channels' health (as the service last recorded it)."""
    report = await operators.status(deps.db)
    status = report["accounts"]
    stuck = await oversight.stuck_counts(deps.db, thresholds)
    hooks = await _hook_deliveries_last_hour(deps)
    vtex = vtex_totals()
    last_minute = VTEX_LAST_MINUTE.totals()
    feed_reads = last_feed_reads()
    names = sorted(set(status) | set(deps.accounts))
    lags = await oversight.intake_lag(deps.db)
    pending = await oversight.pending_jobs(deps.db, names)
    rows = []
    for name in names:
        item = status.get(name, {"orders": {}, "orders_total": 0, "jobs_pending": 0, "jobs_parked": 0})
        policy = deps.accounts.get(name)
        last_read = feed_reads.get(name)
        rows.append(
            {
                "name": name,
                "intake": policy.intake if policy else "-",
                "last_feed_read": _ago(last_read),
                "intake_lag": _lag(lags.get(name)),
                "hook_last_hour": hooks.get(name, 0),
                "paused": item.get("paused", False),
                "paused_reason": item.get("paused_reason"),
                "orders": item["orders"],
                "orders_total": item["orders_total"],
                "jobs_pending": _pending(pending.get(name, oversight.PendingJobs())),
                "jobs_parked": item["jobs_parked"],
                "stuck": stuck.get(name, dict.fromkeys(oversight.STUCK_RULES, 0)),
                "vtex": _vtex_use(deps, name, vtex.get(name, {}), last_minute.get(name, (0, 0))),
                "vtex_health": item.get("vtex", {"healthy": None}),
            }
        )
    return rows, report["erp_channels"]


def _vtex_use(
    deps: PipelineDeps, account: str, since_start: dict[str, float], last_minute: tuple[int, int]
) -> dict[str, Any]:
    """The account's VTEX calls and 429s in the last minute next to its configured limits, and the
    totals since this process started."""
    client = deps.clients.get(account)
    limit = client.requests_per_minute if client is not None else None
    calls, rate_limited = last_minute
    return {
        "per_min": calls,
        "rate_limited_per_min": rate_limited,
        "limit_per_min": limit,
        "share_of_limit": round(100 * calls / limit) if limit else None,
        "get_order_limit_per_min": client.get_order_per_minute if client is not None else None,
        "requests": int(since_start.get("requests", 0)),
        "rate_limited": int(since_start.get("rate_limited", 0)),
    }


async def _hook_deliveries_last_hour(deps: PipelineDeps) -> dict[str, int]:
    events = tables.intake_events
    since = datetime.now(UTC) - timedelta(hours=1)
    query = (
        select(events.c.account, func.count())
        .where(events.c.source == "hook", events.c.received_at >= since)
        .group_by(events.c.account)
    )
    return await deps.db.read(lambda conn: {str(a): int(n) for a, n in conn.execute(query).all()})


def _lag(lag: oversight.IntakeLag | None) -> dict[str, Any]:
    """The intake lag as the page shows it: whole seconds, and a sentence."""
    if lag is None:
        return {"seconds": 0, "text": "caught up"}
    events = f"{lag.events} event{'' if lag.events == 1 else 's'}"
    orders = f"{lag.orders} order{'' if lag.orders == 1 else 's'}"
    return {
        "seconds": int(lag.seconds),
        "text": f"{_duration(lag.seconds)} behind: {events} of {orders} waiting for their sync",
    }


def _pending(jobs: oversight.PendingJobs) -> dict[str, Any]:
    """Unfinished jobs as the page shows them: how many, whether they run, wait or are due later, and
    their kinds (so a handful of tracking relays or scheduled re-checks never looks like stuck work)."""
    if not jobs.total:
        return {"total": 0, "text": "none"}
    when = f"{jobs.running} running, {jobs.due} due now, {jobs.later} scheduled later"
    kinds = ", ".join(f"{oversight.JOB_KINDS.get(kind, kind)} {n}" for kind, n in sorted(jobs.kinds.items()))
    return {"total": jobs.total, "text": f"{jobs.total} pending: {when} · {kinds}"}


def _duration(seconds: float) -> str:
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    if whole < 86400:
        return f"{whole // 3600} h {whole % 3600 // 60} min"
    return f"{whole // 86400} d {whole % 86400 // 3600} h"


def _ago(unix: float | None) -> str:
    if unix is None:
        return "never (in this process)"
    seconds = max(0.0, time.time() - unix)
    return f"{seconds:.0f} s ago" if seconds < 120 else f"{seconds / 60:.0f} min ago"
