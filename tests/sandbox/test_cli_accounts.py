"""`orderbridge sandbox --account NAME:APPKEY:APPTOKEN` (repeatable): which accounts one process serves."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
from typer.testing import CliRunner

from orderbridge.cli import app as cli
from orderbridge.sandbox import server
from orderbridge.sandbox.config import SandboxAccount
from orderbridge.sandbox.testing import sandbox_subprocess


def _served(monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, dict[str, Any], str]:
    """The `SandboxConfig` fields the command would serve with (the server itself is not started)."""
    seen: dict[str, Any] = {}
    monkeypatch.setattr(server, "serve_config", lambda host, port, config: seen.update(vars(config)))
    result = CliRunner().invoke(cli, ["sandbox", *args])
    return result.exit_code, seen, result.output


def test_without_accounts_the_single_account_flags_describe_the_one_account(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, seen, _ = _served(monkeypatch, "--account-name", "shop", "--app-key", "k", "--app-token", "t")

    assert code == 0
    assert (seen["account_name"], seen["app_key"], seen["app_token"]) == ("shop", "k", "t")
    assert seen["more_accounts"] == ()


def test_the_first_account_option_is_the_default_account_when_no_single_account_flag_is_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, seen, _ = _served(
        monkeypatch, "--account", "a-store:key-a:tok-a", "--account", "b-store:key-b:tok-b"
    )

    assert code == 0
    assert (seen["account_name"], seen["app_key"], seen["app_token"]) == ("a-store", "key-a", "tok-a")
    assert seen["more_accounts"] == (SandboxAccount("b-store", "key-b", "tok-b"),)


def test_single_account_flags_beside_account_options_describe_the_first_account(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, seen, _ = _served(monkeypatch, "--account-name", "shop", "--account", "b-store:key-b:tok-b")

    assert code == 0
    assert (seen["account_name"], seen["app_key"]) == ("shop", "vtexappkey-sandbox")
    assert seen["more_accounts"] == (SandboxAccount("b-store", "key-b", "tok-b"),)


@pytest.mark.parametrize("spec", ["b-store:key-b", "B_Store:key:token"])
def test_a_malformed_account_option_is_exit_2_with_one_line(
    monkeypatch: pytest.MonkeyPatch, spec: str
) -> None:
    code, seen, output = _served(monkeypatch, "--account", spec)

    assert code == 2 and seen == {}
    assert "--account" in output or "account name" in output


def test_two_accounts_of_one_name_are_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    code, seen, output = _served(monkeypatch, "--account", "a:k1:t1", "--account", "a:k2:t2")

    assert code == 2 and seen == {}
    assert "unique" in output


@pytest.mark.slow
def test_one_sandbox_process_serves_each_account_at_its_prefix_with_its_own_keys() -> None:
    other = SandboxAccount("b-store", "key-b", "tok-b")
    with sandbox_subprocess(2, account_name="a-store", more_accounts=[other]) as base_url:
        own = {"X-VTEX-API-AppKey": "key-b", "X-VTEX-API-AppToken": "tok-b"}
        default = {"X-VTEX-API-AppKey": "vtexappkey-sandbox", "X-VTEX-API-AppToken": "sandbox-token"}
        with httpx2.Client(base_url=base_url) as client:
            health = client.get("/_sandbox/health").json()
            theirs = client.get("/b-store/api/orders/feed?maxlot=10", headers=own).json()
            mine = client.get("/api/orders/feed?maxlot=10", headers=default).json()
            refused = client.get("/b-store/api/orders/feed?maxlot=10", headers=default)
    assert health["accounts"] == ["a-store", "b-store"]
    assert len(theirs) == len(mine) == 2
    assert not {i["orderId"] for i in theirs} & {i["orderId"] for i in mine}
    assert refused.status_code == 401
