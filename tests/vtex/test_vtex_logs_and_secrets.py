"""Every attempt is logged with its outcome; the appKey and appToken never reach a log or an error."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import httpx2
import pytest
import structlog
from vtex_stub import APP_KEY, APP_TOKEN, ClientFactory, FailingFirst, Reply, StubVtex

from orderbridge.vtex import AuthError, Credentials, Unavailable, VtexClient

ORDER_PATH = "/api/oms/pvt/orders/1001-01"


def assert_no_secret(text: str) -> None:
    assert APP_KEY not in text
    assert APP_TOKEN not in text


async def test_each_attempt_is_logged_with_method_path_status_duration_and_attempt(
    client: VtexClient, stub: StubVtex
) -> None:
    stub.reply("GET", ORDER_PATH, Reply(500), Reply(json={"orderId": "1001-01"}))

    with structlog.testing.capture_logs() as events:
        await client.get_order("1001-01")

    calls = [e for e in events if e["event"] == "vtex.call"]
    assert [(e["method"], e["path"], e["status"], e["attempt"]) for e in calls] == [
        ("GET", ORDER_PATH, 500, 1),
        ("GET", ORDER_PATH, 200, 2),
    ]
    # A call that worked is debug (idle feed polls would flood info); a failure is a warning naming the host.
    assert [e["log_level"] for e in calls] == ["warning", "debug"]
    assert calls[0]["host"] == urlsplit(client.base_url).netloc and calls[0]["retry_in_s"] >= 0
    assert all(isinstance(e["duration_ms"], float) and e["duration_ms"] >= 0 for e in calls)
    assert all(e["account"] == "stubstore" for e in calls)


async def test_a_transport_failure_is_logged_with_its_kind_and_no_status(
    make_client: ClientFactory, stub: StubVtex
) -> None:
    stub.reply("GET", ORDER_PATH, Reply(json={"orderId": "1001-01"}))
    client = make_client(transport=FailingFirst(httpx2.ASGITransport(stub.app), httpx2.ReadTimeout("slow")))

    with structlog.testing.capture_logs() as events:
        await client.get_order("1001-01")

    assert [(e["status"], e.get("error")) for e in events] == [(None, "ReadTimeout"), (200, None)]


async def test_secrets_are_absent_from_logs_of_successes_retries_and_failures(
    make_client: ClientFactory,
    stub: StubVtex,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    echo = {"error": {"code": "1", "message": f"bad key {APP_KEY} / token {APP_TOKEN}", "exception": None}}
    stub.reply("GET", ORDER_PATH, Reply(503), Reply(json={"orderId": "1001-01"}))
    stub.reply("GET", "/api/oms/pvt/orders/1002-01", Reply(401, json=echo))
    stub.reply("GET", "/api/oms/pvt/orders/1003-01", Reply(500))
    caplog.set_level(logging.DEBUG)
    client = make_client()

    with structlog.testing.capture_logs() as events:
        await client.get_order("1001-01")
        with pytest.raises(AuthError):
            await client.get_order("1002-01")
        with pytest.raises(Unavailable):
            await client.get_order("1003-01")

    assert len(events) == 2 + 1 + 4
    assert_no_secret(repr(events))
    assert_no_secret(caplog.text)
    captured = capsys.readouterr()
    assert_no_secret(captured.out + captured.err)


async def test_secrets_are_absent_from_logs_rendered_by_the_default_structlog_setup(
    client: VtexClient, stub: StubVtex, capsys: pytest.CaptureFixture[str]
) -> None:
    stub.reply("GET", ORDER_PATH, Reply(json={"orderId": "1001-01"}))

    await client.get_order("1001-01")

    captured = capsys.readouterr()
    printed = captured.out + captured.err  # stdout by default, stderr once the CLI configured logging
    assert "vtex.call" in printed
    assert ORDER_PATH in printed
    assert_no_secret(printed)


async def test_an_error_echoing_the_secrets_is_redacted_in_str_and_repr(
    client: VtexClient, stub: StubVtex
) -> None:
    echo = {"error": {"code": "1", "message": f"key {APP_KEY} token {APP_TOKEN} refused", "exception": None}}
    stub.reply("GET", ORDER_PATH, Reply(403, json=echo))

    with pytest.raises(AuthError) as caught:
        await client.get_order("1001-01")

    assert caught.value.message == "key *** token *** refused"
    assert_no_secret(str(caught.value))
    assert_no_secret(repr(caught.value))
    assert_no_secret(repr(caught.value.args))


async def test_the_secrets_are_sent_as_vtex_auth_headers(client: VtexClient, stub: StubVtex) -> None:
    stub.reply("GET", ORDER_PATH, Reply(json={"orderId": "1001-01"}))

    await client.get_order("1001-01")

    headers = stub.seen[0].headers
    assert headers["x-vtex-api-appkey"] == APP_KEY
    assert headers["x-vtex-api-apptoken"] == APP_TOKEN
    assert headers["accept"] == "application/json"
    assert headers["content-type"] == "application/json"


def test_client_and_credentials_reprs_hide_the_secrets(client: VtexClient) -> None:
    assert_no_secret(repr(client))
    assert_no_secret(repr(Credentials(APP_KEY, APP_TOKEN)))
