"""`GET /metrics`: Prometheus text of this process's counters (`orderbridge.metrics`) and of gauges and
histograms read from the database at scrape time (`StoreCollector`), optionally behind a bearer token."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import ColumnElement, Float, and_, case, cast, func, select
from sqlalchemy.engine import Connection

from orderbridge.api.auth import BearerAuth
from orderbridge.metrics import REGISTRY
from orderbridge.pipeline.oversight import STUCK_RULES, IntakeLag, StuckThresholds, intake_lag, stuck_counts
from orderbridge.store import tables
from orderbridge.store.db import Database
from orderbridge.store.job_rows import job_rows

LATENCY_BUCKETS: tuple[float, ...] = (1, 5, 15, 30, 60, 120, 300, 900, 1800, 3600, 4 * 3600, 24 * 3600)


@dataclass
class _Snapshot:
    orders: dict[tuple[str, str], int] = field(default_factory=dict)
    jobs: dict[tuple[str, str], int] = field(default_factory=dict)
    stuck: dict[str, dict[str, int]] = field(default_factory=dict)
    commands: dict[tuple[str, str, str], int] = field(default_factory=dict)
    handover: dict[str, tuple[list[int], float, int]] = field(default_factory=dict)
    start: dict[str, tuple[list[int], float, int]] = field(default_factory=dict)
    lag: dict[str, IntakeLag] = field(default_factory=dict)


def _seconds_between(db: Database, start: Any, end: Any) -> ColumnElement[Any]:
    if db.is_sqlite:
        return (func.julianday(end) - func.julianday(start)) * 86400.0
    return cast(func.extract("epoch", end - start), Float)


class StoreCollector(Collector):
    """Families read from the database; `refresh()` (async) must run before each collection."""

    def __init__(self, db: Database, thresholds: StuckThresholds) -> None:
        self._db = db
        self._thresholds = thresholds
        self._snapshot = _Snapshot()

    async def refresh(self) -> None:
        snapshot = await self._db.read(self._counts)
        snapshot.stuck = await stuck_counts(self._db, self._thresholds)
        snapshot.lag = await intake_lag(self._db)
        self._snapshot = snapshot

    def _counts(self, conn: Connection) -> _Snapshot:
        snapshot = _Snapshot()
        orders, jobs, commands = tables.orders, job_rows(conn), tables.commands
        query = select(orders.c.account, orders.c.pipeline_state, func.count()).group_by(
            orders.c.account, orders.c.pipeline_state
        )
        snapshot.orders = {(str(a), str(s)): int(n) for a, s, n in conn.execute(query).all()}
        jobs_query = select(jobs.c.kind, jobs.c.status, func.count()).group_by(jobs.c.kind, jobs.c.status)
        snapshot.jobs = {(str(k), str(s)): int(n) for k, s, n in conn.execute(jobs_query).all()}
        commands_query = select(
            commands.c.account, commands.c.kind, commands.c.status, func.count()
        ).group_by(commands.c.account, commands.c.kind, commands.c.status)
        snapshot.commands = {
            (str(a), str(k), str(s)): int(n) for a, k, s, n in conn.execute(commands_query).all()
        }
        snapshot.handover = self._histogram(conn, orders.c.created_at, orders.c.handed_over_at)
        snapshot.start = self._histogram(conn, orders.c.handed_over_at, orders.c.started_at)
        return snapshot

    def _histogram(self, conn: Connection, start: Any, end: Any) -> dict[str, tuple[list[int], float, int]]:
        """Per account: cumulative bucket counts, sum and count of `end - start` (seconds), one query."""
        seconds = _seconds_between(self._db, start, end)
        buckets = [func.sum(case((seconds <= bound, 1), else_=0)) for bound in LATENCY_BUCKETS]
        query = (
            select(tables.orders.c.account, *buckets, func.sum(seconds), func.count())
            .where(and_(start.is_not(None), end.is_not(None)))
            .group_by(tables.orders.c.account)
        )
        found = {}
        for row in conn.execute(query).all():
            account, *counts, total, n = row
            found[str(account)] = ([int(c or 0) for c in counts], float(total or 0.0), int(n))
        return found

    def collect(self) -> Iterable[Metric]:
        snap = self._snapshot
        orders = GaugeMetricFamily(
            "orderbridge_orders",
            "Orders by account and pipeline state (from the database).",
            labels=["account", "state"],
        )
        for (account, state), n in sorted(snap.orders.items()):
            orders.add_metric([account, state], n)
        yield orders
        jobs = GaugeMetricFamily("orderbridge_jobs", "Jobs by kind and state.", labels=["kind", "state"])
        for (kind, state), n in sorted(snap.jobs.items()):
            jobs.add_metric([kind, state], n)
        yield jobs
        stuck = GaugeMetricFamily(
            "orderbridge_stuck_orders",
            "Orders stuck, by account and rule (thresholds: [console]).",
            labels=["account", "rule"],
        )
        for account, rules in sorted(snap.stuck.items()):
            for rule in STUCK_RULES:
                stuck.add_metric([account, rule], rules.get(rule, 0))
        yield stuck
        lag = GaugeMetricFamily(
            "orderbridge_intake_lag_seconds",
            "Age of the account's oldest intake event (feed, hook, reconciliation) whose order has not "
            "been read since it arrived; 0 when caught up.",
            labels=["account"],
        )
        for account in sorted(set(snap.stuck) | set(snap.lag)):
            waiting = snap.lag.get(account)
            lag.add_metric([account], waiting.seconds if waiting is not None else 0.0)
        yield lag
        commands = GaugeMetricFamily(
            "orderbridge_erp_commands",
            "ERP commands by account, kind and outcome (status).",
            labels=["account", "kind", "outcome"],
        )
        for (account, kind, status), n in sorted(snap.commands.items()):
            commands.add_metric([account, kind, status], n)
        yield commands
        yield _histogram_family(
            "orderbridge_ready_to_handover_seconds",
            "From the order's first sight (ready-for-handling) to its handover to the ERP.",
            snap.handover,
        )
        yield _histogram_family(
            "orderbridge_handover_to_start_seconds",
            "From the handover to the ERP to start-handling confirmed at VTEX.",
            snap.start,
        )


def _histogram_family(name: str, doc: str, data: dict[str, tuple[list[int], float, int]]) -> Metric:
    family = HistogramMetricFamily(name, doc, labels=["account"])
    for account, (counts, total, n) in sorted(data.items()):
        buckets: Sequence[tuple[str, float]] = [
            *((_bound(b), float(c)) for b, c in zip(LATENCY_BUCKETS, counts, strict=True)),
            ("+Inf", float(n)),
        ]
        family.add_metric([account], buckets, total)
    return family


def _bound(value: float) -> str:
    return str(float(value))


class Metrics:
    """This process's counters plus the store's gauges, rendered as Prometheus text."""

    def __init__(self, db: Database, thresholds: StuckThresholds | None = None) -> None:
        self.registry = CollectorRegistry()
        self.store = StoreCollector(db, thresholds or StuckThresholds())
        self.registry.register(self.store)
        self.registry.register(_Forward(REGISTRY))

    async def render(self) -> bytes:
        await self.store.refresh()
        return generate_latest(self.registry)


class _Forward(Collector):
    """The process-wide counters, forwarded into a per-app registry."""

    def __init__(self, source: CollectorRegistry) -> None:
        self._source = source

    def collect(self) -> Iterable[Metric]:
        return self._source.collect()


def metrics_router(metrics: Metrics, auth: BearerAuth | None) -> APIRouter:
    """`auth`: when given, a scrape must send `Authorization: Bearer <token>` (else 401)."""
    router = APIRouter()

    @router.get("/metrics", include_in_schema=False)
    async def scrape(request: Request) -> Response:
        if auth is not None:
            scheme, _, presented = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not auth.is_valid(presented.strip()):
                return Response(
                    "a valid bearer token is required\n",
                    status_code=401,
                    headers={"WWW-Authenticate": 'Bearer realm="orderbridge"'},
                )
        return Response(await metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return router
