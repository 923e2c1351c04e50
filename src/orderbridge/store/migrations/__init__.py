"""Alembic migrations of the orderbridge schema (packaged so `Database.migrate()` finds them)."""
