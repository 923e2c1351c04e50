"""The service's configuration: a TOML file, overridden by `ORDERBRIDGE_*` environment variables.

Secrets (appKey, appToken, hook secret, API tokens) are `SecretStr`, so they never show in a repr, a log
line or an error message, and they are normally read from environment variables named in the file
rather than written in it. `load_settings` turns every problem into one `ConfigError` that names the
file, the key and what is wrong. Every key is documented in `docs/configuration.md`.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from orderbridge.core.decisions import FEED_STATUSES

ENV_PREFIX = "ORDERBRIDGE_"
CONFIG_ENV = "ORDERBRIDGE_CONFIG"
DEFAULT_CONFIG_FILE = Path("orderbridge.toml")

# The statuses VTEX's feed/hook filter accepts (OpenAPI, feed configuration `status`).
VTEX_FILTER_STATUSES = frozenset(
    (
        "order-created", "on-order-completed", "on-order-completed-ffm", "payment-pending",
        "waiting-for-order-authorization", "approve-payment", "payment-approved", "request-cancel",
        "waiting-for-seller-decision", "waiting-ffmt-authorization", "waiting-for-authorization",
        "waiting-for-manual-authorization", "authorize-fulfillment", "order-create-error",
        "order-creation-error", "window-to-cancel", "window-to-change-seller",
        "waiting-for-mkt-authorization",
        "waiting-seller-handling", "ready-for-handling", "start-handling", "handling",
        "invoice-after-cancellation-deny", "order-accepted", "invoice", "invoiced", "replaced",
        "cancellation-requested", "cancel", "canceled",
    )
)  # fmt: skip
DEFAULT_FEED_STATUSES = FEED_STATUSES  # what the feed is asked for, unless an account says otherwise
SECRET_KEYS = frozenset({"app_key", "app_token", "hook_secret", "tokens", "secret", "password"})

ErpAdapterName = Literal["warehouse", "webhook", "staging", "files", "rest"]
#: Adapters that need no `[erp.<name>]` section: the simulated warehouse, and `rest` (the ERP pulls
#: through the API, so it needs `[api]` instead).
_SECTIONLESS_ADAPTERS = frozenset({"warehouse", "rest"})


class ConfigError(ValueError):
    """Bad configuration; the message names the file, the key and the problem (never a secret's value)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _from_env(data: Any, key: str, env_key: str, default_env: str | None) -> Any:
    """Fill `key` from the environment variable the file names (or the default one) when it is absent."""
    if not isinstance(data, dict) or data.get(key) not in (None, ""):
        return data
    env_name = data.get(env_key, default_env)
    value = os.environ.get(env_name) if isinstance(env_name, str) else None
    return {**data, key: value} if value else data


class FromWorkflowFilter(_Strict):
    """Feed events for status changes into any of `status`."""

    type: Literal["FromWorkflow"] = "FromWorkflow"
    status: tuple[str, ...] = Field(default=DEFAULT_FEED_STATUSES, min_length=1)

    @field_validator("status")
    @classmethod
    def _known_statuses(cls, status: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(status) - VTEX_FILTER_STATUSES)
        if unknown:
            raise ValueError(f"unknown VTEX status {', '.join(unknown)} (see docs/configuration.md)")
        return status


class FromOrdersFilter(_Strict):
    """Feed events for order documents that match a JSONata `expression`."""

    type: Literal["FromOrders"]
    expression: str = Field(min_length=1)
    disable_single_fire: bool = False


def _filter_shorthand(value: Any) -> Any:
    """`feed_filter = ["handling", ...]` is short for a FromWorkflow filter with those statuses."""
    return {"type": "FromWorkflow", "status": value} if isinstance(value, list | tuple) else value


FeedFilter = Annotated[FromWorkflowFilter | FromOrdersFilter, Field(discriminator="type")]


class AccountSettings(_Strict):
    """One VTEX account the service serves."""

    name: str
    app_key: SecretStr
    app_token: SecretStr
    app_key_env: str = "VTEX_APP_KEY"
    app_token_env: str = "VTEX_APP_TOKEN"
    environment: str = Field(default="vtexcommercestable", pattern=r"^[a-z0-9]+$")
    base_url: str | None = None
    intake: Literal["feed", "hook", "both"] = "feed"
    pollers: int = Field(default=4, ge=1, le=64)
    maxlot: int = Field(default=10, ge=1, le=10)
    feed_filter: FeedFilter = Field(default_factory=FromWorkflowFilter)
    hook_secret: SecretStr | None = None
    hook_secret_env: str = "VTEX_HOOK_SECRET"
    hook_url: str | None = None
    change_api: Literal["v2", "v1"] = "v2"
    requests_per_second: float | None = Field(default=None, gt=0)
    get_order_per_minute: int | None = Field(default=6000, gt=0)
    timeout_s: float = Field(default=10.0, gt=0)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    max_short_wait_s: float = Field(default=5.0, ge=0, le=60)
    """A 429's `Retry-After` up to this is slept inside the VTEX call (at most three times) and the call
    repeated; longer, the work is rescheduled. Jobs on PostgreSQL (procrastinate) never sleep one: every
    429 reschedules the job, so the wait holds no worker; this applies to SQLite's jobs and to the loops
    (feed pollers, reconciliation)."""
    erp_adapter: ErpAdapterName | None = None
    cancellation_before_acceptance: Literal["accept", "ask_erp"] = "accept"
    """A shopper's cancellation request for an order the ERP has not accepted (it is not in fulfilment):
    `accept` cancels it at VTEX without asking the ERP; `ask_erp` asks the ERP as for any other order."""

    @model_validator(mode="before")
    @classmethod
    def _secrets_from_environment(cls, data: Any) -> Any:
        data = _from_env(data, "app_key", "app_key_env", "VTEX_APP_KEY")
        data = _from_env(data, "app_token", "app_token_env", "VTEX_APP_TOKEN")
        data = _from_env(data, "hook_secret", "hook_secret_env", "VTEX_HOOK_SECRET")
        if isinstance(data, dict) and "feed_filter" in data:
            data = {**data, "feed_filter": _filter_shorthand(data["feed_filter"])}
        # A credential still missing is left to the field check, so it is reported next to every other
        # problem of the file (`_describe` names the environment variable it was looked for in).
        return data

    @field_validator("name")
    @classmethod
    def _vtex_account_name(cls, name: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,63}", name):
            raise ValueError("a VTEX account name: lowercase letters, digits and '-'")
        return name

    @field_validator("base_url", "hook_url")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return url.rstrip("/") if url else url

    @model_validator(mode="after")
    def _hook_needs_a_secret(self) -> AccountSettings:
        if self.intake in ("hook", "both") and self.hook_secret is None:
            raise ValueError(
                f"hook_secret: intake {self.intake!r} needs a shared secret"
                f" (in the file or environment variable {self.hook_secret_env})"
            )
        return self

    @property
    def feed_statuses(self) -> tuple[str, ...]:
        """The FromWorkflow statuses, or () for a FromOrders filter."""
        return self.feed_filter.status if isinstance(self.feed_filter, FromWorkflowFilter) else ()

    @property
    def feed_expression(self) -> str | None:
        """The FromOrders JSONata expression, or None for a FromWorkflow filter."""
        return self.feed_filter.expression if isinstance(self.feed_filter, FromOrdersFilter) else None

    @property
    def uses_feed(self) -> bool:
        return self.intake in ("feed", "both")

    @property
    def uses_hook(self) -> bool:
        return self.intake in ("hook", "both")


class WebhookErpSettings(_Strict):
    """The `webhook` ERP adapter: orders are POSTed to `url`, signed with HMAC-SHA256 of a timestamp and
    the body. The secret is required: signing with an empty key would let anyone forge deliveries."""

    url: str = Field(pattern=r"^https?://")
    secret_env: str = "ORDERBRIDGE_ERP_WEBHOOK_SECRET"  # before `secret`: its validator names it
    secret: SecretStr | None = Field(default=None, validate_default=True)
    timeout_s: float = Field(default=10.0, gt=0)
    connect_timeout_s: float = Field(default=5.0, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _secret_from_environment(cls, data: Any) -> Any:
        return _from_env(data, "secret", "secret_env", "ORDERBRIDGE_ERP_WEBHOOK_SECRET")

    @field_validator("secret")
    @classmethod
    def _secret_is_set(cls, secret: SecretStr | None, info: ValidationInfo) -> SecretStr:
        if secret is None or not secret.get_secret_value().strip():
            env_name = info.data.get("secret_env", "ORDERBRIDGE_ERP_WEBHOOK_SECRET")
            raise ValueError(f"not in the file and environment variable {env_name} is not set")
        return secret


class StagingErpSettings(_Strict):
    """The `staging` ERP adapter: interface tables in a database the ERP reads and writes."""

    database_url: str = Field(min_length=1)
    poll_interval_s: float = Field(default=1.0, gt=0)


class FilesErpSettings(_Strict):
    """The `files` ERP adapter: JSON orders into `outbox`, command files from `inbox`."""

    outbox: Path
    inbox: Path
    poll_interval_s: float = Field(default=1.0, gt=0)


class WarehouseSettings(BaseModel):
    """The `warehouse` ERP adapter (the simulated one: tests, the demo, the bench) and how it behaves;
    every ratio is a probability in [0, 1], drawn per order.

    Draws are seeded by `seed`, the account and the order id, so the same order gets the same plan in
    every run and in every process, whatever order the handovers arrive in.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    database: str = Field(
        default="orderbridge-warehouse.db",
        description="SQLite file (or sqlite:/// URL) holding the warehouse's handover log and plans.",
    )
    seed: int = Field(default=42, description="Seed of every per-order draw.")
    reject_ratio: float = Field(default=0.0, ge=0, le=1, description="Orders refused at handover.")
    accept_later_ratio: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Accepted orders whose acceptance is reported later through the sink, not at handover.",
    )
    fulfil: bool = Field(
        default=True,
        description="False: accept or reject only; no changes, invoices or tracking (benchmarks).",
    )
    self_cancel_ratio: float = Field(
        default=0.02, ge=0, le=1, description="Accepted orders the warehouse later cancels itself."
    )
    out_of_stock_ratio: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="Orders that lose one unit of an item (a Change) before invoicing.",
    )
    partial_invoice_ratio: float = Field(
        default=0.2, ge=0, le=1, description="Orders invoiced in two partial invoices instead of one."
    )
    deny_cancellation_ratio: float = Field(
        default=0.0, ge=0, le=1, description="Shoppers' cancellation requests the warehouse denies."
    )
    first_step_delay_s: float = Field(
        default=0.5, ge=0, description="Wait after accepting an order before its first step."
    )
    step_delay_s: float = Field(default=0.2, ge=0, description="Wait between two steps of one order.")
    retry_delay_s: float = Field(
        default=0.2, ge=0, description="First wait before retrying a refused step; doubles per attempt."
    )
    max_retry_delay_s: float = Field(
        default=2.0, ge=0, description="Longest wait between two attempts of one step."
    )
    max_step_attempts: int = Field(
        default=60, ge=1, description="Attempts of one step before the warehouse gives the order up."
    )
    resubmit_after: int = Field(
        default=5,
        ge=1,
        description="Attempts a step waits for an earlier invoice to show before resubmitting it.",
    )
    max_resubmits: int = Field(
        default=2,
        ge=0,
        description="How often one order's invoices may be resubmitted (a change never is).",
    )
    tracking_events: int = Field(
        default=2, ge=0, le=20, description="Tracking updates per invoice before the one that says delivered."
    )
    batch_size: int = Field(default=64, ge=1, le=1000, description="Due steps run per loop turn.")
    idle_poll_s: float = Field(
        default=1.0, gt=0, description="Longest sleep of the step loop when nothing is due."
    )
    invoice_prefix: str = Field(
        default="WH",
        pattern=r"^[A-Za-z0-9]{1,10}$",
        description="Prefix of invoice numbers (alphanumeric: VTEX must route them).",
    )
    courier: str = Field(default="Simulated Courier", min_length=1, description="Courier name on invoices.")


class ErpSettings(_Strict):
    """Which ERP adapter serves the accounts (an account may pick another with `erp_adapter`)."""

    adapter: ErpAdapterName = "warehouse"
    unhealthy_after: int = Field(default=5, ge=1, le=10_000)
    """Failures in a row (timeouts, 5xx, 401…) after which the ERP channel is reported unhealthy."""
    allow_http_urls: bool = False
    """Accept plain `http://` invoice and tracking URLs from the ERP (default: only `https://`)."""
    warehouse: WarehouseSettings = Field(default_factory=WarehouseSettings)
    webhook: WebhookErpSettings | None = None
    staging: StagingErpSettings | None = None
    files: FilesErpSettings | None = None

    @model_validator(mode="after")
    def _chosen_adapter_is_configured(self) -> ErpSettings:
        if self.adapter not in _SECTIONLESS_ADAPTERS and getattr(self, self.adapter) is None:
            raise ValueError(f"adapter {self.adapter!r} needs an [erp.{self.adapter}] section")
        return self


class StuckSettings(_Strict):
    """Minutes after which the dashboard, `/metrics` and the alert rules call an order stuck."""

    ready_not_handed_over_min: float = Field(default=15, gt=0)
    awaiting_erp_min: float = Field(default=60, gt=0)
    start_handling_min: float = Field(default=30, gt=0)
    cancellation_min: float = Field(default=60, gt=0)
    incomplete_min: float = Field(default=120, gt=0)


class ApiSettings(_Strict):
    """The HTTP server: hook receiver, REST API for ERPs, dashboard, metrics."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    tokens: tuple[SecretStr, ...] = ()
    tokens_env: str = "ORDERBRIDGE_API_TOKENS"
    metrics_require_token: bool = False
    """`/metrics` answers only a scrape that sends one of `tokens` as a bearer token."""
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    """Largest request body the API (and dashboard) reads; a larger one is answered 413 unread."""
    hook_max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    """Largest body the VTEX hook receiver reads (a notification is well under 1 KiB)."""
    stuck: StuckSettings = Field(default_factory=StuckSettings)

    @model_validator(mode="before")
    @classmethod
    def _tokens_from_environment(cls, data: Any) -> Any:
        """Tokens the file does not give come from a comma-separated environment variable."""
        if not isinstance(data, dict) or data.get("tokens"):
            return data
        env_name = data.get("tokens_env", "ORDERBRIDGE_API_TOKENS")
        raw = os.environ.get(env_name, "") if isinstance(env_name, str) else ""
        tokens = tuple(token.strip() for token in raw.split(",") if token.strip())
        return {**data, "tokens": tokens} if tokens else data


class JobsSettings(_Strict):
    """The job queue and the once-per-cluster loops on PostgreSQL (procrastinate; `docs/deploy.md`).
    SQLite's embedded queue reads only `max_attempts`, `max_deaths` and `shutdown_grace_s`; `workers`
    (top level) is the jobs run at once per process on both."""

    max_attempts: int = Field(default=8, ge=1, le=100)
    """Runs of a failing job before it is parked (429 and Retry-After waits, and runs lost to a dead
    worker, do not count)."""
    max_deaths: int = Field(default=20, ge=1, le=1000)
    """Runs of a job lost to a dead worker (killed, crashed, its host gone) before the job is parked: a
    job that kills its process each time must not loop. Apart from `max_attempts`: a worker's death is
    not the job's failure (relays killed mid-call in a chaos run were parked after 8 deaths)."""
    poll_interval_s: float = Field(default=1.0, gt=0, le=60)
    """How often an idle worker looks for jobs whose time came (new jobs arrive by NOTIFY at once)."""
    heartbeat_s: float = Field(default=2.0, gt=0)
    """How often a worker heartbeats and checks its liveness session. A worker whose liveness lock is
    free and whose heartbeat is two beats old is dead: its running jobs run again elsewhere."""
    stalled_after_s: float = Field(default=10.0, gt=0)
    """The heartbeat bound instead, while free liveness locks are not trusted (three beats after a
    restart of PostgreSQL, or after a process lost its own session): long enough to outlast a restart
    (heartbeats pause meanwhile: a worker silent longer than this has its jobs run twice)."""
    shutdown_grace_s: float = Field(default=10.0, ge=0)
    """On SIGTERM, running jobs get this long to finish; the rest run again (their run not counted)."""
    pool_size: int = Field(default=10, ge=2, le=200)
    """Connections of procrastinate's pool per process (the store's own pool is apart)."""
    singleton_retry_s: float = Field(default=2.0, gt=0, le=30)
    """How often a process that does not run a once-per-cluster loop (an account's feed pollers, its
    reconciliation, the ERP's way back) tries to take it over: the fail-over time after a SIGKILL."""

    @model_validator(mode="after")
    def _stalled_well_after_heartbeat(self) -> JobsSettings:
        if self.stalled_after_s < 2 * self.heartbeat_s:
            raise ValueError("jobs.stalled_after_s must be at least twice jobs.heartbeat_s")
        return self


class Settings(BaseSettings):
    """Everything `orderbridge run` needs. Environment (`ORDERBRIDGE_API__PORT=9000`) beats the file."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", frozen=True
    )

    database_url: str = "sqlite:///orderbridge.db"
    accounts: tuple[AccountSettings, ...] = Field(min_length=1)
    erp: ErpSettings = Field(default_factory=ErpSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    jobs: JobsSettings = Field(default_factory=JobsSettings)
    reconcile_interval_s: float = Field(default=300.0, gt=0)
    reconcile_lookback_h: float = Field(default=72.0, gt=0)
    workers: int = Field(default=64, ge=1, le=256)
    """Jobs run at once (order syncs, command relays…). A job mostly waits for VTEX and the ERP: at
    VTEX's bound of 100 Get order/s and ~0.3 s per sync, about 30 are in flight; 64 leaves room for a
    slower ERP or VTEX without hundreds of idle tasks and database connections' worth of waiting."""
    incomplete_recheck_s: float = Field(default=60.0, gt=0)
    incomplete_recheck_max_s: float = Field(default=900.0, gt=0)
    vtex_outage_retry_s: float = Field(default=1.0, gt=0)
    vtex_outage_retry_max_s: float = Field(default=60.0, gt=0)
    vtex_calls_retention_days: float = Field(default=7.0, gt=0)
    """How long each order's VTEX calls (its timeline's evidence, table `vtex_calls`) are kept."""
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "console"] | None = None
    """None: JSON when stdout is not a terminal, else console (`orderbridge.logsetup.wants_json`)."""

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _lower_case(cls, value: Any) -> Any:
        """`ORDERBRIDGE_LOG_LEVEL=DEBUG` means debug: the environment's case does not matter."""
        return value.strip().lower() if isinstance(value, str) else value

    ca_bundle: Path | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The file's values arrive as init arguments; the environment must override them, not vice versa."""
        return env_settings, init_settings

    @field_validator("accounts")
    @classmethod
    def _unique_names(cls, accounts: tuple[AccountSettings, ...]) -> tuple[AccountSettings, ...]:
        names = [account.name for account in accounts]
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            raise ValueError(f"account names must be unique: {', '.join(duplicated)} appears twice")
        return accounts

    @model_validator(mode="after")
    def _account_adapters_are_configured(self) -> Settings:
        for n, account in enumerate(self.accounts):
            chosen = account.erp_adapter
            if (
                chosen is not None
                and chosen not in _SECTIONLESS_ADAPTERS
                and getattr(self.erp, chosen) is None
            ):
                raise ValueError(f"accounts[{n}].erp_adapter: {chosen!r} needs an [erp.{chosen}] section")
        return self

    @model_validator(mode="after")
    def _rest_adapter_needs_the_api(self) -> Settings:
        """A pull-only ERP reaches orderbridge only through the API: it must be served, with a token."""
        if not any(self.erp_adapter_of(account.name) == "rest" for account in self.accounts):
            return self
        if not self.api.enabled:
            raise ValueError(
                'erp.adapter "rest": the ERP pulls through the API, so [api] enabled must be true'
            )
        if not self.api.tokens:
            raise ValueError(
                f'erp.adapter "rest": the ERP needs an API token ([api] tokens or {self.api.tokens_env})'
            )
        return self

    def erp_adapter_of(self, account: str) -> ErpAdapterName:
        """The ERP adapter serving `account`: its own choice, else the default `erp.adapter`."""
        return self.account(account).erp_adapter or self.erp.adapter

    def account(self, name: str) -> AccountSettings:
        for account in self.accounts:
            if account.name == name:
                return account
        raise KeyError(name)


def load_settings(path: Path | None = None) -> Settings:
    """Read `path` (else `$ORDERBRIDGE_CONFIG`, else `./orderbridge.toml` if present), then the env."""
    source = _resolve(path)
    data = read_toml(source) if source is not None else {}
    try:
        return Settings(**data)
    except ValidationError as error:
        raise ConfigError(_describe(error, source)) from None
    except SettingsError as error:
        raise ConfigError(_describe_environment_error(error, source)) from None


def _resolve(path: Path | None) -> Path | None:
    if path is not None:
        return path
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.exists() else None


def read_toml(path: Path) -> dict[str, Any]:
    """The file as a dict; a missing, unreadable or invalid file is a one-line `ConfigError`."""
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the configuration file ({error.strerror})") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None


def _describe(error: ValidationError, source: Path | None) -> str:
    where = str(source) if source is not None else f"configuration (no file; {ENV_PREFIX}* environment)"
    problems = error.errors(include_url=False, include_input=True)
    lines = []
    for problem in problems:
        if problem["type"] == "too_short" and _has_inner_problem(problem["loc"], problems):
            continue  # pydantic counts only the valid items; the item's own problem says it all
        key = _key(problem["loc"])
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            message = "unknown key (see docs/configuration.md)"
        elif problem["type"] == "missing" and problem["loc"][-1] in _CREDENTIAL_ENV:
            message = _missing_credential(problem)
        lines.append(f"  {key or '(top level)'}: {message}{_shown_input(problem)}{_env_hint(problem['loc'])}")
    return "\n".join([f"{where}: {len(lines)} problem(s)", *lines])


_CREDENTIAL_ENV = {
    "app_key": ("app_key_env", "VTEX_APP_KEY"),
    "app_token": ("app_token_env", "VTEX_APP_TOKEN"),
}


def _missing_credential(problem: Any) -> str:
    """A missing appKey/appToken: say which environment variable it was looked for in."""
    env_key, default = _CREDENTIAL_ENV[str(problem["loc"][-1])]
    account = problem.get("input")
    env_name = account.get(env_key, default) if isinstance(account, dict) else default
    return f"not in the file and environment variable {env_name} is not set"


def _describe_environment_error(error: SettingsError, source: Path | None) -> str:
    """pydantic-settings reads a list or table from the environment as JSON and, when that fails, stops
    with one message for the whole top-level field; name the variables behind it instead."""
    where = str(source) if source is not None else f"configuration (no file; {ENV_PREFIX}* environment)"
    field = re.search(r'field "([^"]+)"', str(error))
    prefix = ENV_PREFIX + (field.group(1).upper() if field else "")
    names = sorted(name for name in os.environ if name == prefix or name.startswith(prefix + "__"))
    lines = [
        f"  environment variable {name}: not valid JSON (a list or table from the environment is"
        ' written in JSON, e.g. \'["token1", "token2"]\''
        + (f"; or set {ENV_PREFIX}API_TOKENS=token1,token2)" if name.endswith("__TOKENS") else ")")
        for name in names
    ] or [f"  an {ENV_PREFIX}* environment variable: {error}"]
    return "\n".join([f"{where}: {len(lines)} problem(s)", *lines])


def _has_inner_problem(loc: tuple[int | str, ...], problems: list[Any]) -> bool:
    return any(len(p["loc"]) > len(loc) and p["loc"][: len(loc)] == loc for p in problems)


def _key(loc: tuple[int | str, ...]) -> str:
    """('accounts', 0, 'feed_filter', 'FromWorkflow', 'status') → 'accounts[0].feed_filter.status'."""
    key = ""
    for part in loc:
        if isinstance(part, int):
            key += f"[{part}]"
        elif part not in ("FromWorkflow", "FromOrders"):
            key += f".{part}" if key else part
    return key


def _shown_input(problem: Any) -> str:
    """Echo the offending value to help, except for secrets and anything that is not a short scalar."""
    names = {str(part) for part in problem["loc"]}
    value = problem.get("input")
    if names & SECRET_KEYS or problem["type"] in ("missing", "extra_forbidden"):
        return ""
    if isinstance(value, bool | int | float) or (isinstance(value, str) and len(value) <= 80):
        return f" (got {value!r})"
    return ""


def _env_hint(loc: tuple[int | str, ...]) -> str:
    if not loc or any(isinstance(part, int) for part in loc):
        return ""
    name = ENV_PREFIX + "__".join(str(part) for part in loc).upper()
    return f" [from environment variable {name}]" if name in os.environ else ""
