"""`orderbridge.config`: the TOML file, environment overrides, secrets from env, and clear errors."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from orderbridge.config import (
    AccountSettings,
    ConfigError,
    FromOrdersFilter,
    FromWorkflowFilter,
    Settings,
    load_settings,
)
from orderbridge.erp.pull import PullOnlyErp
from orderbridge.erp.warehouse import WarehouseSettings
from orderbridge.pipeline.erp_wiring import build_erp

REPO = Path(__file__).resolve().parents[1]
KEY, TOKEN = "vtexappkey-secret-KEY-123", "secret-TOKEN-456"

MINIMAL = """
[[accounts]]
name = "shop"
"""


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Only what each test sets: no stray ORDERBRIDGE_* or VTEX_* from the machine, no ./orderbridge.toml."""
    for name in list(os.environ):
        if name.startswith(("ORDERBRIDGE_", "VTEX_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VTEX_APP_KEY", KEY)
    monkeypatch.setenv("VTEX_APP_TOKEN", TOKEN)


def write(tmp_path: Path, text: str, name: str = "orderbridge.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problem_lines(error: pytest.ExceptionInfo[ConfigError]) -> list[str]:
    return [line.strip() for line in str(error.value).splitlines()[1:]]


def test_the_example_file_loads_with_the_documented_defaults(tmp_path: Path) -> None:
    settings = load_settings(REPO / "orderbridge.example.toml")
    account = settings.account("sandboxaccount")
    assert account.app_key.get_secret_value() == KEY
    assert account.base_url == "http://127.0.0.1:8700"
    assert account.uses_feed and not account.uses_hook
    assert settings.erp.adapter == "warehouse"
    assert settings.erp.warehouse == WarehouseSettings()  # the example spells out the defaults


def test_a_minimal_file_gets_the_defaults(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, MINIMAL))
    account = settings.accounts[0]
    assert settings.database_url == "sqlite:///orderbridge.db"
    assert (account.intake, account.pollers, account.maxlot, account.change_api) == ("feed", 4, 10, "v2")
    assert account.environment == "vtexcommercestable" and account.base_url is None
    assert account.feed_filter == FromWorkflowFilter(
        status=("ready-for-handling", "cancellation-requested", "canceled", "invoiced")
    )
    assert account.feed_statuses == account.feed_filter.status and account.feed_expression is None
    assert (settings.api.host, settings.api.port, settings.api.tokens) == ("127.0.0.1", 8080, ())


def test_the_file_is_found_through_the_environment_or_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, MINIMAL.replace("shop", "from-cwd"))
    assert load_settings().accounts[0].name == "from-cwd"
    elsewhere = write(tmp_path, MINIMAL.replace("shop", "from-env"), name="other.toml")
    monkeypatch.setenv("ORDERBRIDGE_CONFIG", str(elsewhere))
    assert load_settings().accounts[0].name == "from-env"


def test_the_environment_overrides_the_file_including_nested_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "workers = 4\n" + MINIMAL + "[erp.warehouse]\nseed = 1\nreject_ratio = 0.5\n")
    monkeypatch.setenv("ORDERBRIDGE_WORKERS", "16")
    monkeypatch.setenv("ORDERBRIDGE_ERP__WAREHOUSE__SEED", "7")
    monkeypatch.setenv("ORDERBRIDGE_UNRELATED_THING", "ignored")
    settings = load_settings(path)
    assert settings.workers == 16
    assert (settings.erp.warehouse.seed, settings.erp.warehouse.reject_ratio) == (7, 0.5)


def test_credentials_come_from_the_environment_variables_the_file_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP2_KEY", "k2")
    monkeypatch.setenv("SHOP2_TOKEN", "t2")
    monkeypatch.setenv("ORDERBRIDGE_API_TOKENS", "alpha, beta,,")
    text = (
        MINIMAL + '[[accounts]]\nname = "shop2"\napp_key_env = "SHOP2_KEY"\napp_token_env = "SHOP2_TOKEN"\n'
    )
    settings = load_settings(write(tmp_path, text))
    shop2 = settings.account("shop2")
    assert (shop2.app_key.get_secret_value(), shop2.app_token.get_secret_value()) == ("k2", "t2")
    assert settings.account("shop").app_key.get_secret_value() == KEY
    assert [t.get_secret_value() for t in settings.api.tokens] == ["alpha", "beta"]


def test_credentials_written_in_the_file_win_over_the_environment(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, MINIMAL + 'app_key = "in-file"\napp_token = "in-file-too"\n'))
    assert settings.accounts[0].app_key.get_secret_value() == "in-file"


def test_a_missing_credential_names_the_account_key_and_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VTEX_APP_TOKEN")
    path = write(tmp_path, MINIMAL)
    with pytest.raises(ConfigError) as error:
        load_settings(path)
    assert str(error.value).startswith(f"{path}: 1 problem(s)")
    assert problem_lines(error) == [
        "accounts[0].app_token: not in the file and environment variable VTEX_APP_TOKEN is not set"
    ]


def test_bad_values_are_reported_together_with_file_key_and_problem(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'workers = "many"\n[[accounts]]\nname = "Shop"\nmaxlot = 50\nintake = "push"\n'
        'app_kye = "typo"\nfeed_filter = ["handling", "shipped"]\n[api]\nport = 70000\n',
    )
    with pytest.raises(ConfigError) as error:
        load_settings(path)
    lines = problem_lines(error)
    assert str(error.value).startswith(f"{path}: 7 problem(s)")
    expected = [
        "accounts[0].name: a VTEX account name: lowercase letters, digits and '-' (got 'Shop')",
        "accounts[0].intake: Input should be 'feed', 'hook' or 'both' (got 'push')",
        "accounts[0].maxlot: Input should be less than or equal to 10 (got 50)",
        "accounts[0].feed_filter.status: unknown VTEX status shipped (see docs/configuration.md)",
        "accounts[0].app_kye: unknown key (see docs/configuration.md)",
        "api.port: Input should be less than or equal to 65535 (got 70000)",
    ]
    for line in expected:
        assert line in lines
    assert any(line.startswith("workers: Input should be a valid integer") for line in lines)


def test_a_value_from_the_environment_is_blamed_on_its_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDERBRIDGE_RECONCILE_INTERVAL_S", "-1")
    with pytest.raises(ConfigError) as error:
        load_settings(write(tmp_path, MINIMAL))
    assert problem_lines(error) == [
        "reconcile_interval_s: Input should be greater than 0 (got '-1')"
        " [from environment variable ORDERBRIDGE_RECONCILE_INTERVAL_S]"
    ]


def test_invalid_toml_and_a_missing_file_name_the_file(tmp_path: Path) -> None:
    broken = write(tmp_path, "[[accounts]\nname = 'x'\n")
    with pytest.raises(ConfigError, match=rf"^{broken}: not valid TOML: .*line 1"):
        load_settings(broken)
    with pytest.raises(ConfigError, match=r"nope\.toml: configuration file not found"):
        load_settings(tmp_path / "nope.toml")


def test_no_account_at_all_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings()  # no file anywhere
    assert "no file" in str(error.value).splitlines()[0]
    assert problem_lines(error) == ["accounts: Field required"]


def test_account_names_must_be_unique(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="account names must be unique: shop appears twice"):
        load_settings(write(tmp_path, MINIMAL + MINIMAL))


def test_hook_intake_requires_a_shared_secret_which_may_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(
        tmp_path, MINIMAL + 'intake = "both"\nhook_url = "https://ob.example.com/hooks/vtex/shop/"\n'
    )
    with pytest.raises(
        ConfigError, match=r"hook_secret: intake 'both' needs a shared secret.*VTEX_HOOK_SECRET"
    ):
        load_settings(path)
    monkeypatch.setenv("VTEX_HOOK_SECRET", "hook-secret-789")
    account = load_settings(path).accounts[0]
    assert account.hook_secret is not None and account.hook_secret.get_secret_value() == "hook-secret-789"
    assert account.hook_url == "https://ob.example.com/hooks/vtex/shop"


def test_a_from_orders_feed_filter_is_accepted(tmp_path: Path) -> None:
    text = MINIMAL + '[accounts.feed_filter]\ntype = "FromOrders"\nexpression = "status = \\"handling\\""\n'
    account = load_settings(write(tmp_path, text)).accounts[0]
    assert account.feed_filter == FromOrdersFilter(type="FromOrders", expression='status = "handling"')
    assert (account.feed_expression, account.feed_statuses) == ('status = "handling"', ())


def test_a_non_warehouse_erp_adapter_needs_its_section(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"erp: adapter 'webhook' needs an \[erp.webhook\] section"):
        load_settings(write(tmp_path, MINIMAL + '[erp]\nadapter = "webhook"\n'))
    text = MINIMAL + '[erp]\nadapter = "webhook"\n[erp.webhook]\nurl = "https://erp.example.com/orders"\n'
    assert load_settings(write(tmp_path, text + 'secret = "whsec"\n')).erp.webhook is not None


def test_the_webhook_adapter_refuses_to_start_without_its_signing_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Signing with "" would let anyone forge deliveries the ERP trusts.
    monkeypatch.delenv("ORDERBRIDGE_ERP_WEBHOOK_SECRET", raising=False)
    text = MINIMAL + '[erp]\nadapter = "webhook"\n[erp.webhook]\nurl = "https://erp.example.com/orders"\n'
    with pytest.raises(ConfigError) as refused:
        load_settings(write(tmp_path, text))
    missing = "not in the file and environment variable ORDERBRIDGE_ERP_WEBHOOK_SECRET is not set"
    assert f"erp.webhook.secret: {missing}" in str(refused.value)
    with pytest.raises(ConfigError, match=r"erp\.webhook\.secret"):
        load_settings(write(tmp_path, text + 'secret = ""\n'))


def test_the_pull_only_rest_adapter_needs_the_api_and_a_token_not_a_section(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rest = MINIMAL + '[erp]\nadapter = "rest"\n'
    with pytest.raises(ConfigError, match=r'erp.adapter "rest": the ERP needs an API token'):
        load_settings(write(tmp_path, rest))
    with pytest.raises(ConfigError, match=r"\[api\] enabled must be true"):
        load_settings(write(tmp_path, rest + '[api]\nenabled = false\ntokens = ["t-1"]\n'))
    monkeypatch.setenv("ORDERBRIDGE_API_TOKENS", "t-1")
    settings = load_settings(write(tmp_path, rest))
    assert settings.erp.adapter == "rest" and settings.erp_adapter_of("shop") == "rest"
    assert isinstance(build_erp(settings), PullOnlyErp)


def test_an_account_may_pick_its_own_erp_adapter_if_it_is_configured(tmp_path: Path) -> None:
    text = MINIMAL + 'erp_adapter = "files"\n'
    with pytest.raises(
        ConfigError, match=r"accounts\[0\].erp_adapter: 'files' needs an \[erp.files\] section"
    ):
        load_settings(write(tmp_path, text))
    settings = load_settings(write(tmp_path, text + '[erp.files]\noutbox = "out"\ninbox = "in"\n'))
    assert settings.erp_adapter_of("shop") == "files"
    assert settings.erp.adapter == "warehouse"


def test_secrets_never_appear_in_repr_str_errors_or_logs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("VTEX_HOOK_SECRET", "hook-secret-789")
    monkeypatch.setenv("ORDERBRIDGE_API_TOKENS", "api-token-000")
    settings = load_settings(write(tmp_path, MINIMAL + 'intake = "hook"\n'))
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("test").info("settings %s %r", settings, settings.accounts[0])
    bad = write(tmp_path, MINIMAL + "app_key = 12345678\napp_token = ['secret-in-list']\n", name="bad.toml")
    with pytest.raises(ConfigError) as error:
        load_settings(bad)
    shown = " ".join([repr(settings), str(settings), caplog.text, str(error.value)])
    for secret in (KEY, TOKEN, "hook-secret-789", "api-token-000", "12345678", "secret-in-list"):
        assert secret not in shown
    assert "accounts[0].app_key" in str(error.value)


def test_settings_can_be_built_in_code_for_tests_and_the_demo() -> None:
    settings = Settings(accounts=(AccountSettings(name="sandboxaccount", app_key="k", app_token="t"),))
    assert settings.account("sandboxaccount").app_token.get_secret_value() == "t"
    with pytest.raises(KeyError):
        settings.account("other")


def test_a_stalled_worker_timeout_under_two_heartbeats_is_refused_naming_both_keys(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "[jobs]\nheartbeat_s = 10\nstalled_after_s = 15\n")
    with pytest.raises(ConfigError) as error:
        load_settings(path)
    assert problem_lines(error) == ["jobs: jobs.stalled_after_s must be at least twice jobs.heartbeat_s"]
    settings = load_settings(write(tmp_path, MINIMAL + "[jobs]\nsingleton_retry_s = 0.5\n", "ok.toml"))
    assert (settings.jobs.singleton_retry_s, settings.jobs.stalled_after_s) == (0.5, 10.0)


def test_a_jobs_death_budget_defaults_to_twenty_and_reaches_both_queues(tmp_path: Path) -> None:
    from orderbridge.service import _queue_options

    assert load_settings(write(tmp_path, MINIMAL)).jobs.max_deaths == 20
    settings = load_settings(write(tmp_path, MINIMAL + "[jobs]\nmax_deaths = 5\n", "five.toml"))
    assert _queue_options(settings, sqlite=True)["max_deaths"] == 5
    assert _queue_options(settings, sqlite=False)["max_deaths"] == 5
