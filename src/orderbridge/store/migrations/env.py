"""Alembic environment: always runs on a connection handed over by `orderbridge.store.migrate`.

For the `alembic` command line (writing a new revision), set `sqlalchemy.url` with `-x url=...`.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from orderbridge.store.tables import metadata

config = context.config
connection = config.attributes.get("connection")


def _run(conn: object) -> None:
    context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)  # type: ignore[arg-type]
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    _run(connection)
else:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("pass the database URL: alembic -x url=sqlite:///orderbridge.db ...")
    with create_engine(url).connect() as sync_connection:
        _run(sync_connection)
