"""Persist: SQLAlchemy tables, sessions and migrations (SQLite by default, PostgreSQL for scale)."""
