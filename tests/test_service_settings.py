"""Settings of the configuration file that `orderbridge.service` hands to the pipeline it builds."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from orderbridge.config import load_settings
from orderbridge.service import Service

CONFIG = """
database_url = "sqlite:///{tmp}/orderbridge.db"
{extra}

[[accounts]]
name = "shop"
app_key = "vtexappkey-shop"
app_token = "shop-token"

[erp.warehouse]
database = "{tmp}/warehouse.db"
"""


def _service(tmp_path: Path, extra: str = "") -> Service:
    path = tmp_path / "orderbridge.toml"
    path.write_text(CONFIG.format(tmp=tmp_path, extra=extra), encoding="utf-8")
    service = Service(load_settings(path))
    asyncio.run(service.db.dispose())  # built, never run: nothing to stop but the engine
    return service


@pytest.mark.parametrize(
    ("line", "kept"), [("", timedelta(days=7)), ("vtex_calls_retention_days = 2.5", timedelta(hours=60))]
)
def test_the_stored_vtex_calls_are_kept_as_long_as_the_configuration_says(
    tmp_path: Path, line: str, kept: timedelta
) -> None:
    service = _service(tmp_path, line)

    assert service.pipeline.deps.call_log.keep == kept


@pytest.mark.parametrize(("line", "slept"), [("", 5.0), ("max_short_wait_s = 0.5", 0.5)])
def test_the_accounts_vtex_client_sleeps_a_retry_after_up_to_its_max_short_wait(
    tmp_path: Path, line: str, slept: float
) -> None:
    path = tmp_path / "orderbridge.toml"
    config = CONFIG.format(tmp=tmp_path, extra="")
    path.write_text(config.replace('app_token = "shop-token"', f'app_token = "shop-token"\n{line}'))
    service = Service(load_settings(path))
    asyncio.run(service.db.dispose())

    assert service.clients["shop"]._http.policy.max_short_wait_s == slept
