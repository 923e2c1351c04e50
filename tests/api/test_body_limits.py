"""Issue 14, item 7: a caller cannot make the service hold a body it will refuse. A request without a
valid token is answered 401 before its body is read, and any body over the limit (1 MiB for the API,
256 KiB for the hook receiver) is answered 413 while it streams in, before anything parses it. Measured
on a real `orderbridge run` process: its resident memory must not grow with refused bodies."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from orderbridge.api.auth import BearerAuth
from orderbridge.api.limits import BodyLimit, BodyTooLarge, TokenFirst, answer_too_large

from .service_process import AUTHORIZED, HOOK_HEADERS, RunningService, post_raw, running_service

INVOICES = "/api/v1/orders/1000000000001-01/invoices"
HOOK = "/hooks/vtex/shop"
MIB = 1024 * 1024
ALLOWED_GROWTH_KIB = 20 * 1024


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    with running_service(tmp_path_factory.mktemp("limits")) as running:
        yield running


def grows_by(
    service: RunningService, send: int, path: str, size: int, headers: dict[str, str], *, chunked: bool
) -> tuple[int, set[int]]:
    post_raw(service, path, 1024, headers)  # warm up: first-request imports and caches are not growth
    before = service.rss_kib()
    statuses = {post_raw(service, path, size, headers, chunked=chunked) for _ in range(send)}
    return service.rss_kib() - before, statuses


def test_oversized_bodies_without_a_token_do_not_grow_the_process(service: RunningService) -> None:
    growth, statuses = grows_by(service, 100, INVOICES, 3 * MIB, {}, chunked=False)
    print(f"RSS growth after 100 unauthenticated 3 MiB bodies: {growth} KiB")
    assert statuses == {401}
    assert growth < ALLOWED_GROWTH_KIB


def test_oversized_streamed_bodies_with_a_token_are_refused_413_and_do_not_grow_the_process(
    service: RunningService,
) -> None:
    # Chunked: no Content-Length to refuse up front, so the limit is enforced while the body streams.
    growth, statuses = grows_by(service, 100, INVOICES, 3 * MIB, AUTHORIZED, chunked=True)
    print(f"RSS growth after 100 authenticated chunked 3 MiB bodies: {growth} KiB")
    assert statuses == {413}
    assert growth < ALLOWED_GROWTH_KIB


def test_oversized_hook_bodies_are_refused_413_and_do_not_grow_the_process(service: RunningService) -> None:
    growth, statuses = grows_by(service, 100, HOOK, 1 * MIB, HOOK_HEADERS, chunked=True)
    print(f"RSS growth after 100 chunked 1 MiB hook bodies: {growth} KiB")
    assert statuses == {413}
    assert growth < ALLOWED_GROWTH_KIB


def test_bodies_declared_far_too_large_are_refused_before_a_byte_is_read(service: RunningService) -> None:
    # The 50 MB bodies: the Content-Length alone decides, with a token or without.
    growth, statuses = grows_by(service, 100, INVOICES, 50 * MIB, AUTHORIZED, chunked=False)
    print(f"RSS growth after 100 authenticated 50 MiB declared bodies: {growth} KiB")
    assert statuses == {413}
    assert growth < ALLOWED_GROWTH_KIB


def small_app(api_bytes: int = 1024, hook_bytes: int = 1024) -> FastAPI:
    app = FastAPI()

    @app.post("/api/v1/echo")
    async def echo(body: dict[str, Any]) -> dict[str, Any]:
        return body

    @app.post("/hooks/vtex/shop")
    async def hook(request: Request) -> dict[str, int]:
        return {"read": len(await request.body())}

    app.add_exception_handler(BodyTooLarge, answer_too_large)
    app.add_middleware(BodyLimit, api_bytes=api_bytes, hook_bytes=hook_bytes)
    app.add_middleware(TokenFirst, auth=BearerAuth(["t"]))
    return app


def streamed(size: int) -> Iterator[bytes]:
    yield b'{"a": "' + b"x" * size + b'"}'


def test_a_refused_body_gets_a_problem_naming_the_limit() -> None:
    with TestClient(small_app()) as client:
        declared = client.post("/api/v1/echo", json={"a": "x" * 2000}, headers={"Authorization": "Bearer t"})
        chunked = client.post("/api/v1/echo", content=streamed(2000), headers={"Authorization": "Bearer t"})
        hook = client.post("/hooks/vtex/shop", content=streamed(2000))
        fits = client.post("/api/v1/echo", json={"a": "x"}, headers={"Authorization": "Bearer t"})
    for refused in (declared, chunked, hook):
        assert refused.status_code == 413
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["detail"] == "body: larger than the limit of 1024 bytes [body_too_large]"
    assert fits.json() == {"a": "x"}


def test_no_token_is_401_whatever_the_body() -> None:
    with TestClient(small_app()) as client:
        for content in (b"{not json", b"x" * 5000):
            for headers in ({}, {"Authorization": "Bearer wrong"}):
                answer = client.post("/api/v1/echo", content=content, headers=headers)
                assert answer.status_code == 401
                assert answer.headers["content-type"] == "application/problem+json"
