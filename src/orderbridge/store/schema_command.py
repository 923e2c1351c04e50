"""`orderbridge migrate`: bring a database's schema to this version's newest migration, or (`--check`)
only say whether it is there — for a deploy that migrates once before starting its processes."""

from __future__ import annotations

from dataclasses import dataclass

from orderbridge.store.db import Database, sqlite_file_exists
from orderbridge.store.migrate import head_revision


@dataclass(frozen=True)
class SchemaState:
    before: str | None
    after: str | None
    head: str

    @property
    def at_head(self) -> bool:
        return self.after == self.head

    def describe(self) -> str:
        if self.before == self.after:
            return f"schema at {self.after or 'none (never migrated)'}; newest known: {self.head}"
        return f"schema migrated from {self.before or 'nothing'} to {self.after}"


async def migrate_schema(database_url: str, *, check_only: bool) -> SchemaState:
    if check_only and not sqlite_file_exists(database_url):
        return SchemaState(None, None, head_revision())  # a check never creates the file it looks for
    db = Database(database_url)
    try:
        before = await db.revision()
        if not check_only:
            await db.migrate()
        return SchemaState(before, await db.revision(), head_revision())
    finally:
        await db.dispose()
