"""The simulated warehouse: an ERP adapter kept in its own SQLite file, for tests, the demo and the bench."""

from orderbridge.config import WarehouseSettings
from orderbridge.erp.warehouse.adapter import (
    SimulatedWarehouse,
    database_path,
    read_handover_counts,
    read_plans,
    read_summary,
)
from orderbridge.erp.warehouse.ledger import GiveUp, PlanRow, WarehouseSummary

__all__ = [
    "GiveUp",
    "PlanRow",
    "SimulatedWarehouse",
    "WarehouseSettings",
    "WarehouseSummary",
    "database_path",
    "read_handover_counts",
    "read_plans",
    "read_summary",
]
