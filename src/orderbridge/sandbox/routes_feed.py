"""Feed v3, hook configuration and the JSONata tester, per calling appKey."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from orderbridge.sandbox.feed import Feed, parse_feed_config
from orderbridge.sandbox.filters import compile_expression
from orderbridge.sandbox.gateway import read_json, vtex_endpoint
from orderbridge.sandbox.hook import HookConfig, parse_hook_config
from orderbridge.sandbox.responses import OmsError, ProblemError, empty, json_response
from orderbridge.sandbox.state import OmsState


def _feed(oms: OmsState, app_key: str) -> Feed:
    feed = oms.feeds.get(app_key)
    if feed is None:
        raise OmsError(
            404, "FD001", "Feed not found for this appKey; configure it with POST /api/orders/feed/config"
        )
    return feed


def _maxlot(raw: str | None) -> int:
    """1..10; omitted means 10 (UNCONFIRMED at VTEX, see docs/sandbox.md)."""
    if raw is None or raw == "":
        return 10
    try:
        value = int(raw)
    except ValueError as exc:
        raise OmsError(400, "FD002", "maxlot must be an integer between 1 and 10") from exc
    if not 1 <= value <= 10:
        raise OmsError(400, "FD002", "maxlot must be an integer between 1 and 10")
    return value


async def feed_read(request: Request, oms: OmsState, app_key: str) -> Response:
    maxlot = _maxlot(request.query_params.get("maxlot"))
    feed = _feed(oms, app_key)
    faults = oms.faults
    now = oms.clock.now()
    items = feed.read(maxlot, now, oms.rng, faults.duplicate_ratio, faults.reorder, faults.short_batch_ratio)
    return json_response(items)


async def feed_commit(request: Request, oms: OmsState, app_key: str) -> Response:
    body = await read_json(request)
    handles = body.get("handles") if isinstance(body, dict) else None
    if not isinstance(handles, list) or not all(isinstance(h, str) for h in handles):
        raise ProblemError(
            400, "One or more validation errors occurred.", {"Handles": ["The Handles field is required."]}
        )
    _feed(oms, app_key).commit(handles, oms.config.stale_handle_commits)
    return empty(200)


async def feed_config_get(request: Request, oms: OmsState, app_key: str) -> Response:
    return json_response(_feed(oms, app_key).config_json(oms.clock.now()))


async def feed_config_post(request: Request, oms: OmsState, app_key: str) -> Response:
    body = await read_json(request, required=False)
    if body is None:
        raise ProblemError(415, "Unsupported Media Type")
    order_filter, visibility, retention = parse_feed_config(body, oms.config.visibility_timeout_s)
    existing = oms.feeds.get(app_key)
    if existing is None:  # a new feed only receives changes made after it exists
        oms.feeds[app_key] = Feed(order_filter, visibility, retention, oms.clock.now())
    else:  # reconfiguring keeps the events already queued
        existing.filter, existing.visibility_timeout_s, existing.retention_s = (
            order_filter,
            visibility,
            retention,
        )
        existing.fired_orders.clear()
    return empty(200)


async def feed_config_delete(request: Request, oms: OmsState, app_key: str) -> Response:
    _feed(oms, app_key)
    del oms.feeds[app_key]
    return empty(200)


def _hook(oms: OmsState, app_key: str) -> HookConfig:
    hook = oms.hook_configs.get(app_key)
    if hook is None:
        raise OmsError(404, "HK001", "Hook not found for this appKey")
    return hook


async def hook_config_get(request: Request, oms: OmsState, app_key: str) -> Response:
    return json_response(_hook(oms, app_key).to_json())


async def hook_config_post(request: Request, oms: OmsState, app_key: str) -> Response:
    body = await read_json(request, required=False)
    if body is None:
        raise ProblemError(415, "Unsupported Media Type")
    order_filter, url, headers = parse_hook_config(body)
    if not await oms.hooks.ping(url, headers):
        raise ProblemError(400, "Unable to check address: the hook did not answer 200 to the ping")
    config = HookConfig(order_filter, url, headers, oms.clock.now())
    oms.hook_configs[app_key] = config
    return json_response(config.to_json())


async def hook_config_delete(request: Request, oms: OmsState, app_key: str) -> Response:
    _hook(oms, app_key)
    del oms.hook_configs[app_key]
    return empty(200)


async def jsonata_test(request: Request, oms: OmsState, app_key: str) -> Response:
    body = await read_json(request)
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("Expression"), str)
        or not isinstance(body.get("Document"), str)
    ):
        raise ProblemError(
            400,
            "One or more validation errors occurred.",
            {"Expression": ["Expression and Document (a JSON string) are required."]},
        )
    try:
        document: Any = orjson.loads(body["Document"])
    except orjson.JSONDecodeError as exc:
        raise ProblemError(400, "Document is not valid JSON") from exc
    compiled = compile_expression(body["Expression"])
    try:
        result = compiled.evaluate(document) is True
    except Exception:
        result = False
    return json_response(result)


ROUTES = [
    Route("/api/orders/feed", vtex_endpoint("feed_read", feed_read), methods=["GET"]),
    Route("/api/orders/feed", vtex_endpoint("feed_commit", feed_commit), methods=["POST"]),
    Route("/api/orders/feed/config", vtex_endpoint("feed_config", feed_config_get), methods=["GET"]),
    Route("/api/orders/feed/config", vtex_endpoint("feed_config", feed_config_post), methods=["POST"]),
    Route("/api/orders/feed/config", vtex_endpoint("feed_config", feed_config_delete), methods=["DELETE"]),
    Route("/api/orders/hook/config", vtex_endpoint("hook_config", hook_config_get), methods=["GET"]),
    Route("/api/orders/hook/config", vtex_endpoint("hook_config", hook_config_post), methods=["POST"]),
    Route("/api/orders/hook/config", vtex_endpoint("hook_config", hook_config_delete), methods=["DELETE"]),
    Route("/api/orders/expressions/jsonata", vtex_endpoint("jsonata", jsonata_test), methods=["POST"]),
]
