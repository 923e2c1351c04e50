"""Current planner statistics on procrastinate's job table, so that fetching a job stays one index step.

procrastinate fetches a job with `ORDER BY priority DESC, id LIMIT 1 … FOR UPDATE SKIP LOCKED`, passing
over jobs whose lock is busy. Statistics taken while the queue was (nearly) empty say there are no
`todo` rows; the planner then reads every `todo` job, checks each one's lock and sorts them all. Measured
in `bench/scale.py` (1 account, 2 workers, ~550 jobs waiting): 18 ms a fetch, growing with the queue,
against 0.2 ms once analysed, when the planner walks the priority index and stops at the first free job.
The queue is longest in a surge (a sale, the catch-up after an outage), just when statistics are the
oldest: a fresh database's first minutes, or a table that was short for hours. Autovacuum refreshes them,
but at most once per `autovacuum_naptime` (a minute by default), and 4 accounts with 3 workers fell to
4.6 orders/s meanwhile. So the stalled-job sweep also analyses the table when it changed by more rows
than it held at its last analysis (PostgreSQL's own count, `n_mod_since_analyze`), and by at least
`min_changes`, at most every `interval_s`: the planner's count of waiting jobs is then never off by
more than about 2× for longer than that.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import psycopg
import structlog
from procrastinate.psycopg_connector import PsycopgConnector

log = structlog.get_logger(__name__)

#: One process of the cluster analyses at a time; the others pass (they would only repeat it).
_ANALYZE_LOCK_ID = 0x0B_0003  # beside the migrations' 0x0B_0001 and the schema's 0x0B_0002

# Read after the lock is taken, in the same transaction: a process that passed the lock just after
# another's analysis sees that analysis's reset count and does not analyse again.
# `reltuples`: the rows the table held at its last analysis (-1 before the first), what the planner's
# estimates scale from; a queue that doubled since is due, whatever it does next.
_CHANGES = """
SELECT s.n_mod_since_analyze, greatest(c.reltuples, 0)::bigint
FROM pg_stat_user_tables AS s JOIN pg_class AS c ON c.oid = s.relid
WHERE s.relid = 'procrastinate_jobs'::regclass
"""


class QueueStatistics:
    """`refresh()` analyses `procrastinate_jobs` when its statistics are stale; cheap to call often."""

    def __init__(
        self,
        connector: PsycopgConnector,
        *,
        min_changes: int = 500,
        interval_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.connector = connector
        #: Fewer changes than this never call for an analysis (a short queue plans well either way).
        self.min_changes = min_changes
        self.interval_s = interval_s
        self._clock = clock
        self._next_look = 0.0
        #: False once PostgreSQL refused ANALYZE (a role that does not own the table): then autovacuum
        #: alone keeps the statistics, as `docs/deploy.md` says.
        self.enabled = True

    async def refresh(self) -> bool:
        """Analyse the job table if it is time to look and the table changed enough; whether it ran."""
        now = self._clock()
        if not self.enabled or now < self._next_look:
            return False
        self._next_look = now + self.interval_s
        async with self.connector.pool.connection() as conn, conn.transaction():
            locked = await (
                await conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (_ANALYZE_LOCK_ID,))
            ).fetchone()
            if not (locked and locked[0]):
                return False
            row = await (await conn.execute(_CHANGES)).fetchone()
            if row is None or row[0] < max(self.min_changes, row[1]):
                return False
            try:
                async with conn.transaction():  # a savepoint: a refusal must not end the outer one badly
                    await conn.execute("ANALYZE procrastinate_jobs")
            except psycopg.errors.InsufficientPrivilege:
                self.enabled = False
                log.warning("jobs.statistics_not_refreshed", reason="ANALYZE refused: not the table's owner")
                return False
        log.debug("jobs.statistics_refreshed", changes=row[0], rows_at_last_analysis=row[1])
        return True
