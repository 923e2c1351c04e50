"""Persist: SQLAlchemy tables, sessions and migrations (SQLite by default, PostgreSQL for scale).

- `db.Database`: engine, `session` / `read_session` factories, `transaction()`, `migrate()`, `dispose()`.
- `tables`: the one `MetaData` and its Core tables; `migrations/`: the hand-written Alembic scripts.
- `repo`: the functions the pipeline calls, each inside the caller's transaction; `sync_writes`: the
  sync's hot-path statements (store a read, confirm the commands it shows).
- `testing`: throwaway migrated databases for tests (SQLite file, PostgreSQL database).
"""
