"""UtcDateTime on SQLite: one processor each way, writing exactly SQLAlchemy's DATETIME text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import DateTime
from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite

from orderbridge.store.types import UtcDateTime

SQLITE = SQLiteDialect_aiosqlite()
MOMENTS = [
    datetime(2026, 11, 27, 10, 0, tzinfo=UTC),
    datetime(2026, 11, 27, 10, 0, 5, 123456, tzinfo=UTC),
    datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone(timedelta(hours=-3))),
]


@pytest.mark.parametrize("moment", MOMENTS)
def test_a_timestamp_is_written_as_sqlalchemys_sqlite_datetime_text(moment: datetime) -> None:
    ours = UtcDateTime().bind_processor(SQLITE)
    sqlalchemys = DateTime().dialect_impl(SQLITE).bind_processor(SQLITE)
    assert ours is not None and sqlalchemys is not None
    assert ours(moment) == sqlalchemys(moment.astimezone(UTC).replace(tzinfo=None))


@pytest.mark.parametrize("moment", MOMENTS)
def test_a_stored_timestamp_reads_back_as_the_same_aware_utc_moment(moment: datetime) -> None:
    write = UtcDateTime().bind_processor(SQLITE)
    read = UtcDateTime().result_processor(SQLITE, None)
    back = read(write(moment))
    assert back == moment and back.tzinfo is UTC


def test_a_naive_timestamp_is_refused_and_none_stays_none() -> None:
    write = UtcDateTime().bind_processor(SQLITE)
    with pytest.raises(ValueError, match="naive"):
        write(datetime(2026, 11, 27, 10, 0))
    assert write(None) is None
    assert UtcDateTime().result_processor(SQLITE, None)(None) is None
