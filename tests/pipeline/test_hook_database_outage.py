"""A hook that meets the database cut off (a restart, a fail-over) is answered 503 with Retry-After, so
VTEX sends it again; the next one is stored. PostgreSQL: its sessions ended from the server's side."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from orderbridge.api.outages import RETRY_AFTER_S
from orderbridge.pipeline.deps import HOOK_SECRET_HEADER
from orderbridge.store import tables
from orderbridge.store.testing import end_other_sessions

from .conftest import ACCOUNT, HarnessFactory
from .test_hook_intake import HOOK_POLICY, NOTIFICATION, SECRET, api_client

pytestmark = pytest.mark.postgres


async def test_a_hook_that_meets_the_database_cut_off_is_answered_503_and_the_next_is_stored(
    make_harness: HarnessFactory,
) -> None:
    harness = await make_harness(policy=HOOK_POLICY, start=False, database="postgres")
    headers = {HOOK_SECRET_HEADER: SECRET}
    async with api_client(harness) as api:
        warm = await api.post(
            f"/hooks/vtex/{ACCOUNT}", json={**NOTIFICATION, "OrderId": "1000000000000-01"}, headers=headers
        )
        end_other_sessions(harness.db.url.render_as_string(hide_password=False))
        cut = await api.post(f"/hooks/vtex/{ACCOUNT}", json=NOTIFICATION, headers=headers)
        again = await api.post(f"/hooks/vtex/{ACCOUNT}", json=NOTIFICATION, headers=headers)

    assert warm.status_code == 200
    assert cut.status_code == 503, cut.text
    assert cut.headers["retry-after"] == str(RETRY_AFTER_S)
    assert cut.headers["content-type"] == "application/problem+json"
    assert again.status_code == 200
    with harness.db.connect() as session:
        stored = session.execute(
            select(func.count())
            .select_from(tables.intake_events)
            .where(tables.intake_events.c.order_id == NOTIFICATION["OrderId"])
        ).scalar_one()
    assert stored == 1
