"""Prepared statements (`store.prepared`): SQLAlchemy's SQL and types, SQLite's execution, same answers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import bindparam, event, insert, select, text, update

from orderbridge.store.db import Database
from orderbridge.store.prepared import Prepared
from orderbridge.store.tables import orders

CREATED = datetime(2026, 11, 27, 10, 0, 0, 123456, tzinfo=UTC)

_INSERT = Prepared(
    insert(orders)
    .values(
        account=bindparam("account"),
        order_id=bindparam("order_id"),
        pipeline_state="new",
        value_cents=bindparam("value_cents"),
        last_change="t1",
        raw=bindparam("raw", type_=orders.c.raw.type),
        snapshot=bindparam("snapshot", type_=orders.c.snapshot.type),
        created_at=bindparam("now", type_=orders.c.created_at.type),
        updated_at=bindparam("now", type_=orders.c.updated_at.type),
        version=1,
    )
    .returning(orders.c.order_id, orders.c.pipeline_state, orders.c.snapshot, orders.c.created_at)
)
_SET_STATE = Prepared(
    update(orders)
    .where(orders.c.order_id == bindparam("b_order_id"))
    .values(pipeline_state=bindparam("b_state"))
)


def _order(order_id: str, raw: Any = None) -> dict[str, Any]:
    snapshot = {"order_id": order_id, "items": [{"id": "1", "quantity": 2}]}
    return {
        "account": "acme",
        "order_id": order_id,
        "value_cents": 10,
        "raw": raw,
        "snapshot": snapshot,
        "now": CREATED,
    }


@pytest.fixture
def statements_through_sqlalchemy(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    yield seen
    event.remove(db.engine.sync_engine, "before_cursor_execute", record)


async def test_a_prepared_insert_returns_its_row_typed_as_sqlalchemy_reads_it(db: Database) -> None:
    async with db.transaction() as session:
        returned = await _INSERT.rows(session, _order("o1"))
    async with db.read_session() as session:
        read = (await session.execute(select(*_INSERT.statement.exported_columns))).one()  # type: ignore[attr-defined]
    assert _INSERT.columns == ("order_id", "pipeline_state", "snapshot", "created_at")
    assert returned == [tuple(read)]
    assert returned[0][2] == _order("o1")["snapshot"]
    assert returned[0][3] == CREATED  # aware UTC, microseconds kept, on both databases


async def test_a_none_for_a_json_column_is_stored_as_sqlalchemy_stores_it(db: Database) -> None:
    core = {**_order("core"), "created_at": CREATED, "updated_at": CREATED}
    core.update(pipeline_state="new", last_change="t1", version=1)
    async with db.transaction() as session:
        await _INSERT.rows(session, _order("prepared"))
        await session.execute(insert(orders), [core])
    async with db.read_session() as session:
        query = text("SELECT order_id, raw IS NULL FROM orders ORDER BY order_id")
        stored = [tuple(row) for row in await session.execute(query)]
    assert [order_id for order_id, _ in stored] == ["core", "prepared"]
    assert stored[0][1] == stored[1][1]


async def test_execute_many_writes_every_row_and_answers_how_many_changed(db: Database) -> None:
    async with db.transaction() as session:
        for order_id in ("o1", "o2", "o3"):
            await _INSERT.rows(session, _order(order_id))
    rows = [
        {"b_order_id": "o1", "b_state": "accepted"},
        {"b_order_id": "o3", "b_state": "parked"},
        {"b_order_id": "missing", "b_state": "parked"},
    ]
    async with db.transaction() as session:
        changed = await _SET_STATE.execute_many(session, rows)
    async with db.read_session() as session:
        states = (
            await session.execute(select(orders.c.order_id, orders.c.pipeline_state).order_by("order_id"))
        ).all()
    assert changed == 2
    assert [tuple(row) for row in states] == [("o1", "accepted"), ("o2", "new"), ("o3", "parked")]


async def test_prepared_writes_roll_back_with_their_transaction(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            await _INSERT.rows(session, _order("o1"))
            raise RuntimeError("the unit failed after its write")
    async with db.read_session() as session:
        assert (await session.execute(select(orders.c.order_id))).all() == []


async def test_a_missing_parameter_is_a_clear_error(db: Database) -> None:
    params = _order("o1")
    del params["value_cents"]
    with pytest.raises(Exception, match="value_cents"):
        async with db.transaction() as session:
            await _INSERT.rows(session, params)


async def test_a_text_statement_typed_for_some_of_its_columns_only_is_refused_on_sqlite(
    db: Database,
) -> None:
    async with db.transaction() as session:
        await _INSERT.rows(session, _order("o1"))
    snapshot_type = orders.c.snapshot.type
    partly_typed = Prepared(text("SELECT order_id, snapshot FROM orders").columns(snapshot=snapshot_type))
    async with db.read_session() as session:
        if db.is_sqlite:  # positions would not line up with the declared types
            with pytest.raises(TypeError, match="2 columns returned, 1 declared"):
                await partly_typed.rows(session, {})
        else:  # PostgreSQL goes through SQLAlchemy, which matches typed columns by name
            assert await partly_typed.rows(session, {}) == [("o1", _order("o1")["snapshot"])]


async def test_on_sqlite_prepared_statements_skip_sqlalchemys_execution(
    db: Database, statements_through_sqlalchemy: list[str]
) -> None:
    async with db.transaction() as session:
        await _INSERT.rows(session, _order("o1"))
        await _SET_STATE.execute_many(session, [{"b_order_id": "o1", "b_state": "accepted"}])
    touching_orders = [s for s in statements_through_sqlalchemy if "orders" in s]
    assert len(touching_orders) == (0 if db.is_sqlite else 2)


async def test_rows_many_answers_the_rows_of_every_parameter_set_in_order(db: Database) -> None:
    async with db.transaction() as session:
        returned = await _INSERT.rows_many(session, [_order("o1"), _order("o2"), _order("o3")])
        assert await _INSERT.rows_many(session, []) == []
    assert [row[:2] for row in returned] == [("o1", "new"), ("o2", "new"), ("o3", "new")]
    assert all(row[3] == CREATED for row in returned)
