"""`orderbridge migrate`: bring a database's schema to this version's newest migration, or (`--check`)
only say whether it is there — for a deploy that migrates once before starting its processes.

On PostgreSQL the same step applies procrastinate's schema (the job queue of several processes, see
`store.procrastinate_schema`); SQLite databases never get it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from orderbridge.store.db import Database, sqlite_file_exists
from orderbridge.store.migrate import head_revision
from orderbridge.store.procrastinate_schema import ensure_procrastinate_schema, is_postgres


@dataclass(frozen=True)
class SchemaState:
    before: str | None
    after: str | None
    head: str
    #: procrastinate's schema (before, after) on PostgreSQL; None on SQLite, which never has it.
    procrastinate: tuple[bool, bool] | None = None

    @property
    def at_head(self) -> bool:
        return self.after == self.head and (self.procrastinate is None or self.procrastinate[1])

    def describe(self) -> str:
        if self.before == self.after:
            text = f"schema at {self.after or 'none (never migrated)'}; newest known: {self.head}"
        else:
            text = f"schema migrated from {self.before or 'nothing'} to {self.after}"
        return text + self._describe_procrastinate()

    def _describe_procrastinate(self) -> str:
        if self.procrastinate is None:
            return ""
        before, after = self.procrastinate
        if before != after:
            return "; procrastinate's schema applied"
        return "; procrastinate's schema " + ("present" if after else "missing")


async def migrate_schema(database_url: str, *, check_only: bool) -> SchemaState:
    if check_only and not sqlite_file_exists(database_url):
        return SchemaState(None, None, head_revision())  # a check never creates the file it looks for
    db = Database(database_url)
    try:
        before = await db.revision()
        if not check_only:
            await db.migrate()
        after = await db.revision()
    finally:
        await db.dispose()
    procrastinate = None
    if is_postgres(database_url):
        procrastinate = await asyncio.to_thread(
            ensure_procrastinate_schema, database_url, check_only=check_only
        )
    return SchemaState(before, after, head_revision(), procrastinate)
