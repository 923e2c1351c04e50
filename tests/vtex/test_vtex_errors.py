"""The error taxonomy: which class, and what it carries, for each kind of VTEX refusal."""

from __future__ import annotations

import pytest
from vtex_stub import Reply, StubVtex

from orderbridge.vtex import (
    AuthError,
    Conflict,
    InvalidResponse,
    NotFound,
    RateLimited,
    Rejected,
    Unavailable,
    VtexClient,
    VtexError,
)

ORDER_PATH = "/api/oms/pvt/orders/1001-01"
START_PATH = "/api/oms/pvt/orders/1001-01/start-handling"


def vtex_error(code: str, message: str) -> dict[str, object]:
    return {"error": {"code": code, "message": message, "exception": None}}


@pytest.mark.parametrize("status", [401, 403])
async def test_unauthorized_and_forbidden_are_auth_errors(
    client: VtexClient, stub: StubVtex, status: int
) -> None:
    stub.reply("GET", ORDER_PATH, Reply(status, json=vtex_error("1", "Unauthorized access")))

    with pytest.raises(AuthError) as caught:
        await client.get_order("1001-01")

    assert (caught.value.status, caught.value.code, caught.value.message) == (
        status,
        "1",
        "Unauthorized access",
    )
    assert len(stub.seen) == 1, "auth failures are not retried"


async def test_unknown_order_is_not_found_with_vtex_code(client: VtexClient, stub: StubVtex) -> None:
    stub.reply("GET", ORDER_PATH, Reply(404, json=vtex_error("OMS007", "Order Not Found")))

    with pytest.raises(NotFound) as caught:
        await client.get_order("1001-01")

    assert caught.value.code == "OMS007"
    assert str(caught.value) == "GET /api/oms/pvt/orders/1001-01 -> 404 [OMS007]: Order Not Found"


async def test_start_handling_in_the_wrong_status_surfaces_oms003(client: VtexClient, stub: StubVtex) -> None:
    message = "Order status should be ready-for-handling to perform this action"
    stub.reply("POST", START_PATH, Reply(409, json=vtex_error("OMS003", message)))

    with pytest.raises(Conflict) as caught:
        await client.start_handling("1001-01")

    assert caught.value.code == "OMS003"
    assert caught.value.message == message
    assert (caught.value.method, caught.value.path) == ("POST", START_PATH)


async def test_other_4xx_are_rejected_with_vtex_message(client: VtexClient, stub: StubVtex) -> None:
    path = "/api/oms/pvt/orders/1001-01/cancel"
    stub.reply(
        "POST", path, Reply(400, json=vtex_error("OMS010", "Partially invoiced orders cannot be canceled"))
    )

    with pytest.raises(Rejected) as caught:
        await client.cancel_order("1001-01", "customer asked")

    assert caught.value.message == "Partially invoiced orders cannot be canceled"


async def test_problem_details_bodies_are_summarised_in_the_message(
    client: VtexClient, stub: StubVtex
) -> None:
    problem = {
        "errors": {"Queue": ["The Queue field is required."]},
        "type": "https://tools.ietf.org/html/rfc7231#section-6.5.1",
        "title": "One or more validation errors occurred.",
        "status": 400,
    }
    stub.reply("GET", "/api/orders/feed", Reply(400, json=problem))

    with pytest.raises(Rejected) as caught:
        await client.read_feed()

    assert caught.value.message == (
        "One or more validation errors occurred. — Queue: The Queue field is required."
    )


async def test_plain_text_error_bodies_become_the_message(client: VtexClient, stub: StubVtex) -> None:
    stub.reply("GET", ORDER_PATH, Reply(418, text="I am a teapot"))

    with pytest.raises(Rejected) as caught:
        await client.get_order("1001-01")

    assert caught.value.message == "I am a teapot"


async def test_missing_feed_and_hook_configs_read_as_none(client: VtexClient, stub: StubVtex) -> None:
    stub.reply("GET", "/api/orders/feed/config", Reply(404))
    stub.reply("GET", "/api/orders/hook/config", Reply(404))

    assert await client.get_feed_config() is None
    assert await client.get_hook_config() is None


async def test_deleting_an_absent_config_counts_as_done(client: VtexClient, stub: StubVtex) -> None:
    stub.reply("DELETE", "/api/orders/feed/config", Reply(404))
    stub.reply("DELETE", "/api/orders/hook/config", Reply(404))

    await client.delete_feed_config()
    await client.delete_hook_config()

    assert len(stub.seen) == 2


async def test_reading_the_feed_without_a_config_is_not_found(client: VtexClient, stub: StubVtex) -> None:
    stub.reply("GET", "/api/orders/feed", Reply(404))

    with pytest.raises(NotFound):
        await client.read_feed()


async def test_a_2xx_body_that_is_not_an_order_is_an_invalid_response(
    client: VtexClient, stub: StubVtex
) -> None:
    stub.reply("GET", ORDER_PATH, Reply(200, text="<html>maintenance</html>"))

    with pytest.raises(InvalidResponse) as caught:
        await client.get_order("1001-01")

    assert isinstance(caught.value, Unavailable)
    assert caught.value.may_have_landed is False
    assert "unreadable response" in caught.value.message


async def test_an_unreadable_answer_to_a_cancel_may_have_landed(client: VtexClient, stub: StubVtex) -> None:
    stub.reply("POST", START_PATH.replace("start-handling", "cancel"), Reply(200, text="[1, 2]"))

    with pytest.raises(InvalidResponse) as caught:
        await client.cancel_order("1001-01", "reason")

    assert caught.value.may_have_landed is True


def test_every_error_class_is_a_vtex_error_that_other_rooms_can_build_in_fakes() -> None:
    assert RateLimited(retry_after=30).retry_after == 30
    assert Unavailable(may_have_landed=True).may_have_landed is True
    assert "retry after 30 s" in str(RateLimited("GET", "/x", retry_after=30))
    for error_type in (AuthError, NotFound, Conflict, Rejected, RateLimited, Unavailable):
        assert issubclass(error_type, VtexError)
