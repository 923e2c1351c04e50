"""No configured secret is ever written anywhere (issue 14, item 14).

The whole service runs in this process, as `orderbridge run` builds it from a configuration, with one
account per ERP adapter (warehouse, webhook, staging tables, files), the hook receiver, the REST API and
the VTEX sandbox; every secret comes from the environment, so the configuration file holds none. After a
demo-sized run (five orders per account, each ERP answering through its own channel), every file the run
left (orderbridge's database with its WAL, the warehouse's and the staging database, outbox and inbox
files), every log line, every API answer and the output of every operator command is searched for each
secret: appKey and appToken of each account, both API tokens, the webhook HMAC key, the hook secret.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx2
import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner

from erp_adapters.fake_erp_server import Reply, fake_erp_server
from erp_adapters.harness import eventually
from orderbridge.cli import app as cli
from orderbridge.config import load_settings
from orderbridge.erp import staging_schema as st
from orderbridge.logsetup import configure_from_settings
from orderbridge.pipeline.deps import HOOK_SECRET_HEADER, Timing
from orderbridge.sandbox.testing import SandboxServer
from orderbridge.service import Service
from orderbridge.store import tables
from pipeline.conftest import sandbox_config

ORDERS_PER_ACCOUNT = 5
#: Orders per account that must have gone through its ERP (the sandbox may keep a few in other statuses).
ENOUGH = 3
ADAPTERS = ("warehouse", "webhook", "staging", "files")
SECRETS = {
    **{f"{a.upper()}_APP_KEY": f"vtexappkey-{a}-K3y9q" for a in ADAPTERS},
    **{f"{a.upper()}_APP_TOKEN": f"{a}-AppT0ken-5ecret-z8" for a in ADAPTERS},
    "ORDERBRIDGE_API_TOKENS": "api-t0ken-one-7f3a,api-t0ken-two-9c1d",
    "ORDERBRIDGE_ERP_WEBHOOK_SECRET": "whsec-HMAC-k3y-0b5e",
    "VTEX_HOOK_SECRET": "hook-Sh4red-secret-e2",
}
#: Each secret as it could leak: whole, and each API token on its own.
NEEDLES = sorted(
    {piece for value in SECRETS.values() for piece in (value, *value.split(","))}, key=len, reverse=True
)
API_TOKEN = SECRETS["ORDERBRIDGE_API_TOKENS"].split(",")[0]

CONFIG = """
database_url = "sqlite+aiosqlite:///{d}/orderbridge.db"
workers = 8
reconcile_interval_s = 3600
log_level = "debug"
{accounts}
[erp]
adapter = "warehouse"

[erp.warehouse]
database = "{d}/warehouse.db"
idle_poll_s = 0.05
first_step_delay_s = 0.05
step_delay_s = 0.05
self_cancel_ratio = 0

[erp.webhook]
url = "{webhook_url}"

[erp.staging]
database_url = "sqlite+aiosqlite:///{d}/staging.db"
poll_interval_s = 0.1

[erp.files]
outbox = "{d}/files/outbox"
inbox = "{d}/files/inbox"
poll_interval_s = 0.1

[api]
port = 0
"""
ACCOUNT = """
[[accounts]]
name = "{adapter}-shop"
base_url = "{base_url}"
app_key_env = "{upper}_APP_KEY"
app_token_env = "{upper}_APP_TOKEN"
erp_adapter = "{adapter}"
pollers = 1
intake = "{intake}"
"""


def _leaks(text: str | bytes) -> list[str]:
    data = text.encode() if isinstance(text, str) else text
    return [needle for needle in NEEDLES if needle.encode() in data]


def _files_leaking(root: Path) -> dict[str, list[str]]:
    """Every file under `root` (databases, their -wal and -shm, JSON, CSV, text) that holds a secret."""
    found = {}
    for path in root.rglob("*"):
        if path.is_file() and (leaked := _leaks(path.read_bytes())):
            found[str(path.relative_to(root))] = leaked
    return found


@pytest.fixture
def sandboxes() -> Iterator[dict[str, SandboxServer]]:
    with ExitStack() as stack:
        yield {
            a: stack.enter_context(
                SandboxServer(
                    sandbox_config(
                        account_name=f"{a}-shop",
                        app_key=SECRETS[f"{a.upper()}_APP_KEY"],
                        app_token=SECRETS[f"{a.upper()}_APP_TOKEN"],
                    )
                )
            )
            for a in ADAPTERS
        }


async def _orders_in(db_dir: Path, adapter: str, states: tuple[str, ...]) -> list[str]:
    engine = create_async_engine(f"sqlite+aiosqlite:///{db_dir / 'orderbridge.db'}")
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(tables.orders.c.order_id, tables.orders.c.pipeline_state).where(
                    tables.orders.c.account == f"{adapter}-shop"
                )
            )
            return [order_id for order_id, state in rows if state in states]
    finally:
        await engine.dispose()


async def _every_account_settles(run: Path) -> None:
    """Warehouse and webhook orders are accepted at once; staging and files ones wait for the ERP."""
    started = ("accepted", "handling", "completed")

    async def settled() -> bool:
        counts = [len(await _orders_in(run, a, started)) for a in ("warehouse", "webhook")]
        waiting = [len(await _orders_in(run, a, ("awaiting_erp",))) for a in ("staging", "files")]
        return min(counts + waiting) >= ENOUGH

    await eventually(settled, what="every account's orders handed over", timeout_s=15)


async def _answer_through_staging_and_files(run: Path) -> None:
    """The staging ERP accepts its orders in `erp_acceptances`, the files ERP drops acceptance files."""
    staging = create_async_engine(f"sqlite+aiosqlite:///{run / 'staging.db'}")
    try:
        async with staging.begin() as conn:
            for order_id in (staged := await _orders_in(run, "staging", ("awaiting_erp",))):
                await conn.execute(
                    insert(st.erp_acceptances).values(order_id=order_id, accepted=True, erp_reference="SO-S")
                )
    finally:
        await staging.dispose()
    inbox = run / "files" / "inbox"
    for n, order_id in enumerate(filed := await _orders_in(run, "files", ("awaiting_erp",))):
        body = {"command": "acceptance", "orderId": order_id, "accepted": True, "erpReference": f"SO-F{n}"}
        (inbox / f".accept-{n}.json").write_text(json.dumps(body))
        (inbox / f".accept-{n}.json").rename(inbox / f"accept-{n}.json")

    async def all_started() -> bool:
        started = ("accepted", "handling", "completed")
        return set(staged) <= set(await _orders_in(run, "staging", started)) and set(filed) <= set(
            await _orders_in(run, "files", started)
        )

    await eventually(all_started, what="staging and files orders accepted", timeout_s=15)


async def _talk_to_the_api(base_url: str, hook_key: str, order_id: str) -> list[str]:
    """The calls an ERP and VTEX make: a hook notification carrying the appKey as VTEX sends it (its
    `Origin.Key`), reads, a refused command. Their answers, to be searched too."""
    answers = []
    async with httpx2.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {API_TOKEN}"}) as api:
        hook = {
            "Domain": "Marketplace",
            "OrderId": order_id,
            "State": "handling",
            "LastState": "ready-for-handling",
            "LastChange": "2026-11-27T10:00:00.0000000Z",
            "CurrentChange": "2026-11-27T10:00:01.0000000Z",
            "Origin": {"Account": "webhook-shop", "Key": hook_key},
        }
        received = await api.post(
            "/hooks/vtex/webhook-shop", json=hook, headers={HOOK_SECRET_HEADER: SECRETS["VTEX_HOOK_SECRET"]}
        )
        assert received.status_code in (200, 202, 204), received.text
        refused = await api.post(
            f"/api/v1/orders/{order_id}/cancellation", params={"account": "webhook-shop"}, json={"reason": ""}
        )
        for response in (
            received,
            refused,
            await api.get("/health"),
            await api.get("/api/v1/orders", params={"limit": 100}),
            await api.get(f"/api/v1/orders/{order_id}", params={"account": "webhook-shop"}),
            await api.get("/metrics"),
        ):
            answers.append(response.text + json.dumps(dict(response.headers)))
    return answers


def _cli_outputs(config: Path, order_id: str) -> list[str]:
    runner = CliRunner()
    outputs = []
    for args in (
        ["status"],
        ["status", "--json"],
        ["orders", "list"],
        ["orders", "list", "--json"],
        ["orders", "show", order_id, "--account", "webhook-shop"],
        ["orders", "show", order_id, "--account", "webhook-shop", "--json"],
    ):
        result = runner.invoke(cli, [*args, "--config", str(config)])
        assert result.exit_code == 0, (args, result.output)
        outputs.append(result.output)
    return outputs


async def test_no_configured_secret_shows_in_logs_databases_files_answers_or_cli_output(
    tmp_path: Path,
    sandboxes: dict[str, SandboxServer],
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    run = tmp_path / "run"
    (run / "files" / "inbox").mkdir(parents=True)
    with fake_erp_server(SECRETS["ORDERBRIDGE_ERP_WEBHOOK_SECRET"]) as erp:
        erp.decide = lambda d: Reply(200, {"erpReference": "SO-W"} if d.event == "order" else {})
        accounts = "".join(
            ACCOUNT.format(
                adapter=a,
                upper=a.upper(),
                base_url=sandboxes[a].base_url,
                intake="both" if a == "webhook" else "feed",
            )
            for a in ADAPTERS
        )
        config = tmp_path / "orderbridge.toml"
        config.write_text(CONFIG.format(d=run, webhook_url=erp.url, accounts=accounts))
        assert _leaks(config.read_text()) == []  # every secret comes from the environment

        settings = load_settings(config)
        configure_from_settings(settings.log_level, settings.log_format)  # as `orderbridge run` does
        service = Service(
            settings,
            timing=Timing(feed_idle_min_s=0.02, feed_idle_max_s=0.1, feed_error_s=0.1, change_poll_s=0.05),
        )
        stop = asyncio.Event()
        task = asyncio.create_task(service.run(stop))
        try:
            await eventually(lambda: _true(service.api_port is not None), what="the API listening")
            for a in ADAPTERS:
                async with httpx2.AsyncClient(base_url=sandboxes[a].base_url) as admin:

                    async def feed_configured(admin: httpx2.AsyncClient = admin, a: str = a) -> bool:
                        # Orders created before the pipeline configured its feed would never reach it.
                        stats = (await admin.get("/_sandbox/stats")).json()
                        return SECRETS[f"{a.upper()}_APP_KEY"] in stats.get("feed", {})

                    await eventually(feed_configured, what=f"{a}'s feed configured")
                    created = await admin.post("/_sandbox/orders", json={"count": ORDERS_PER_ACCOUNT})
                    assert created.status_code < 300, created.text
            await _every_account_settles(run)
            await _answer_through_staging_and_files(run)
            [webhook_order, *_] = await _orders_in(run, "webhook", ("accepted", "handling", "completed"))
            answers = await _talk_to_the_api(
                f"http://127.0.0.1:{service.api_port}", SECRETS["WEBHOOK_APP_KEY"], webhook_order
            )
            # The WAL files exist only while the databases are open: searched now, and once more after.
            wal_files = sorted(p.name for p in run.rglob("*-wal"))
            while_running = _files_leaking(run)
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=20)

    assert "orderbridge.db-wal" in wal_files, wal_files
    assert while_running == {}, while_running
    assert _files_leaking(run) == {}
    assert [a for a in answers if _leaks(a)] == []
    outputs = await asyncio.to_thread(_cli_outputs, config, webhook_order)  # the CLI runs its own loop
    assert [o for o in outputs if _leaks(o)] == []
    logs = capfd.readouterr()
    assert "vtex.call" in logs.out + logs.err  # the debug log was captured: the search means something
    assert _leaks(logs.out + logs.err) == []


async def _true(value: bool) -> bool:
    return value
