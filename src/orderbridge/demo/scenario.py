"""What the demo stages: a store with a short grace period, shoppers who change their minds, and a busy
warehouse — sized so that `make run` (200 orders) finishes in well under a minute.

Everything is drawn from one seed, so two runs of the same options tell the same story.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orderbridge.erp.warehouse import WarehouseSettings

ACCOUNT = "demostore"
APP_KEY = "vtexappkey-demostore"
APP_TOKEN = "demo-token"  # a throwaway credential of the local sandbox, not a secret
HOOK_SECRET = "demo-hook-secret"  # likewise: what the sandbox's hook sends back to our receiver


@dataclass(frozen=True)
class DemoOptions:
    orders: int = 200
    timeout_s: float = 90.0
    database_url: str | None = None
    seed: int = 42
    grace_period_s: float = 2.0
    cancel_in_grace_ratio: float = 0.03
    cancel_after_grace_ratio: float = 0.03
    reject_ratio: float = 0.02
    deny_cancellation_ratio: float = 0.3


def sandbox_options(options: DemoOptions) -> dict[str, Any]:
    """Keyword arguments of `sandbox_subprocess`: the sandbox in its own process, as VTEX would be."""
    return {
        "account_name": ACCOUNT,
        "app_key": APP_KEY,
        "app_token": APP_TOKEN,
        "extra_args": ["--seed", str(options.seed), "--grace-period-s", str(options.grace_period_s)],
    }


def warehouse_settings(options: DemoOptions, workdir: Path) -> WarehouseSettings:
    """A warehouse that does a bit of everything: out-of-stock changes, split invoices, tracking until
    delivered, a few refusals (parked orders), a few self-cancellations and denied cancellation requests."""
    return WarehouseSettings(
        database=str(workdir / "warehouse.db"),
        seed=options.seed,
        reject_ratio=options.reject_ratio,
        deny_cancellation_ratio=options.deny_cancellation_ratio,
        self_cancel_ratio=0.02,
        out_of_stock_ratio=0.1,
        partial_invoice_ratio=0.2,
        tracking_events=2,
        first_step_delay_s=0.5,
        step_delay_s=0.1,
        retry_delay_s=0.3,
        idle_poll_s=0.2,
        batch_size=128,
    )


def database_url(options: DemoOptions, workdir: Path) -> str:
    """The pipeline's database: `options.database_url`, else a SQLite file in the work directory."""
    return options.database_url or f"sqlite:///{workdir / 'orderbridge.db'}"


# The demo's 200 orders need few workers; fewer keep `make run` light on a laptop.
DEMO_WORKERS = 32


def config_toml(
    options: DemoOptions,
    base_url: str,
    workdir: Path,
    warehouse_override: WarehouseSettings | None = None,
    workers: int | None = DEMO_WORKERS,
    api_port: int | None = None,
    hook_url: str | None = None,
) -> str:
    """The configuration file `orderbridge run` reads, pointed at the demo's sandbox (and at the
    warehouse `warehouse_override` describes, if given: `orderbridge chaos` stages a busier one).
    `workers=None` leaves the service's own default (what a store runs). `api_port`: the API listens
    there (else it is off); `hook_url`: orders come by VTEX's hook too (`intake = "both"`), its secret
    from VTEX_HOOK_SECRET (`pipeline_env`).

    Credentials are not written: the pipeline reads them from VTEX_APP_KEY / VTEX_APP_TOKEN
    (`pipeline_env`), as a production configuration should.
    """
    warehouse = (warehouse_override or warehouse_settings(options, workdir)).model_dump()
    lines = [
        f"database_url = {_toml(database_url(options, workdir))}",
        *([f"workers = {workers}"] if workers is not None else []),
        "reconcile_interval_s = 30",
        'log_level = "warning"',
        "",
        "[[accounts]]",
        f"name = {_toml(ACCOUNT)}",
        f"base_url = {_toml(base_url)}",
        "pollers = 4",
        *([f"intake = {_toml('both')}", f"hook_url = {_toml(hook_url)}"] if hook_url else []),
        "",
        "[erp]",
        'adapter = "warehouse"',
        "",
        "[erp.warehouse]",
        *(f"{key} = {_toml(value)}" for key, value in warehouse.items()),
        "",
        "[api]",
        *([f"port = {api_port}"] if api_port is not None else ["enabled = false"]),
    ]
    return "\n".join(lines) + "\n"


def pipeline_env() -> dict[str, str]:
    return {
        "VTEX_APP_KEY": APP_KEY,
        "VTEX_APP_TOKEN": APP_TOKEN,
        "VTEX_HOOK_SECRET": HOOK_SECRET,
        "ORDERBRIDGE_LOG_LEVEL": "warning",
    }


def _toml(value: object) -> str:
    """A TOML scalar: JSON's strings, numbers and booleans are TOML's too."""
    return json.dumps(value)


@dataclass(frozen=True)
class ShopperPlan:
    """Orders whose shopper cancels inside the grace period, and after it (a cancellation request)."""

    in_grace: tuple[str, ...]
    after_grace: tuple[str, ...]


def shopper_plan(order_ids: list[str], options: DemoOptions) -> ShopperPlan:
    rng = random.Random(f"{options.seed}:shoppers")
    shuffled = rng.sample(order_ids, len(order_ids))
    first = round(len(order_ids) * options.cancel_in_grace_ratio)
    second = round(len(order_ids) * options.cancel_after_grace_ratio)
    return ShopperPlan(tuple(shuffled[:first]), tuple(shuffled[first : first + second]))
