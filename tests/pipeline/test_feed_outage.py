"""VTEX unreachable: the feed pollers back off (exponentially, with jitter, to a cap) instead of logging
~15 warnings a second, and `orderbridge status` shows the account as degraded until a read works."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from orderbridge.pipeline import operators
from orderbridge.pipeline.deps import AccountPolicy, PipelineDeps, Timing
from orderbridge.pipeline.intake_feed import FeedPoller
from orderbridge.store import repo
from orderbridge.store.db import Database
from orderbridge.store.testing import fresh_sqlite
from orderbridge.vtex.errors import Unavailable

ACCOUNT = "shop"


class UnreachableVtex:
    """A VTEX client whose feed reads fail (connection refused) while `down` is True."""

    def __init__(self) -> None:
        self.down = True
        self.reads = 0

    async def read_feed(self, maxlot: int) -> list[Any]:
        self.reads += 1
        if self.down:
            raise Unavailable("GET", "/api/orders/feed", None, None, "ConnectError (127.0.0.1:9)")
        return []


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with fresh_sqlite(tmp_path) as database:
        yield database


def _deps(db: Database, client: UnreachableVtex) -> PipelineDeps:
    timing = Timing(feed_error_s=1.0, feed_error_max_s=16.0)
    clients: Any = {ACCOUNT: client}
    return PipelineDeps(db, clients, erp=None, accounts={ACCOUNT: AccountPolicy(ACCOUNT)}, timing=timing)  # type: ignore[arg-type]


async def test_while_vtex_is_unreachable_a_poller_backs_off_exponentially_with_jitter_to_a_cap(
    db: Database,
) -> None:
    client = UnreachableVtex()
    deps = _deps(db, client)
    pollers = [FeedPoller(deps, ACCOUNT, n) for n in range(4)]

    waits = [[await poller.poll_once() for _ in range(8)] for poller in pollers]

    caps = [1.0, 2.0, 4.0, 8.0, 16.0, 16.0, 16.0, 16.0]
    for series in waits:
        for wait, cap in zip(series, caps, strict=True):
            assert cap / 2 <= wait <= cap, series
    assert len({series[3] for series in waits}) == 4  # jittered: the pollers do not retry in step
    # An hour down costs each poller about 60 * 60 / 12 = 300 reads, not one a second.
    assert sum(waits[0]) > 40

    client.down = False
    assert await pollers[0].poll_once() < 1.0  # a read that works resets the backoff
    client.down = True
    assert 0.5 <= await pollers[0].poll_once() <= 1.0


async def test_status_shows_an_account_whose_vtex_is_unreachable_as_degraded_until_a_read_works(
    db: Database,
) -> None:
    with db.begin() as session:
        repo.upsert_account(session, ACCOUNT, {})  # as the service's start-up does
    client = UnreachableVtex()
    deps = _deps(db, client)
    poller = FeedPoller(deps, ACCOUNT)
    await poller.poll_once()
    await poller.poll_once()
    assert (await operators.status(db))["accounts"][ACCOUNT]["vtex"] == {"healthy": None}  # not yet

    await poller.poll_once()

    report = await operators.status(db)
    vtex = report["accounts"][ACCOUNT]["vtex"]
    assert vtex["healthy"] is False and vtex["consecutive_failures"] == 3
    assert "ConnectError (127.0.0.1:9)" in vtex["last_error"]
    assert report["erp_channels"] == {}  # VTEX's health is the account's, not an ERP channel

    client.down = False
    await poller.poll_once()
    assert (await operators.status(db))["accounts"][ACCOUNT]["vtex"]["healthy"] is True
