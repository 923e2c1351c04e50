"""Run the packaged Alembic migrations programmatically (no alembic.ini needed at run time)."""

from __future__ import annotations

import logging
from pathlib import Path

import structlog
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

log = structlog.get_logger("orderbridge.store")

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at the packaged scripts; `connection` is handed to `env.py`."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def upgrade_head(connection: Connection) -> None:
    """Upgrade, logging one line (Alembic's own per-step INFO lines are silenced meanwhile)."""
    alembic_log = logging.getLogger("alembic")
    level = alembic_log.level
    alembic_log.setLevel(max(logging.WARNING, level))
    try:
        before = MigrationContext.configure(connection).get_current_revision()
        command.upgrade(alembic_config(connection), "head")
        after = MigrationContext.configure(connection).get_current_revision()
    finally:
        alembic_log.setLevel(level)
    if after != before:
        log.info("database_migrated", from_revision=before, to_revision=after)
    else:
        log.debug("database_up_to_date", revision=after)


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at (None: never migrated)."""
    return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    """The newest revision this version of orderbridge knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None  # the packaged scripts have one head
    return head
