"""The staging tables' schema: outbound `ob_*` tables orderbridge writes, inbound `erp_*` tables the ERP
writes and orderbridge polls. `ddl()` renders the CREATE statements documented in
`docs/erp-staging-tables.md` (a test keeps the page identical to it).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateIndex, CreateTable

METADATA = MetaData()
_TS = DateTime(timezone=True)


def _key_columns() -> list[Column[Any]]:
    return [
        Column("account", String(100), primary_key=True),
        Column("order_id", String(64), primary_key=True),
    ]


ob_orders = Table(
    "ob_orders",
    METADATA,
    *_key_columns(),
    Column("status", String(64)),
    Column("value_cents", Integer, nullable=False),
    Column("creation_date", String(40)),
    Column("sequence", String(40)),
    Column("customer_email", String(200)),
    Column("customer_name", String(200)),
    Column("snapshot_json", Text, nullable=False, comment="The normalized order (JSON)."),
    Column("raw_json", Text, nullable=False, comment="VTEX's Get order document (JSON)."),
    Column("delivery_count", Integer, nullable=False, comment="How often orderbridge handed it over."),
    Column("handed_over_at", _TS, nullable=False),
)

ob_order_items = Table(
    "ob_order_items",
    METADATA,
    *_key_columns(),
    Column("item_index", Integer, primary_key=True),
    Column("sku_id", String(64), nullable=False),
    Column("name", String(400)),
    Column("quantity", Integer, nullable=False),
    Column("unit_price_cents", Integer, nullable=False),
)

ob_order_addresses = Table(
    "ob_order_addresses",
    METADATA,
    *_key_columns(),
    Column("kind", String(20), primary_key=True, comment="shipping"),
    Column("receiver_name", String(200)),
    Column("street", String(300)),
    Column("number", String(40)),
    Column("complement", String(200)),
    Column("neighborhood", String(200)),
    Column("city", String(200)),
    Column("state", String(100)),
    Column("postal_code", String(40)),
    Column("country", String(10)),
)

ob_cancellation_notices = Table(
    "ob_cancellation_notices",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account", String(100), nullable=False),
    Column("order_id", String(64), nullable=False),
    Column("kind", String(30), nullable=False, comment="canceled | cancellation-requested"),
    Column("request_id", String(100), nullable=False, comment="'' when VTEX gave none"),
    Column("reason", Text),
    Column("created_at", _TS, nullable=False),
    UniqueConstraint("account", "order_id", "kind", "request_id"),
)


def _inbound(name: str, *columns: Column[Any]) -> Table:
    """Every inbound table: the ERP fills the order key and the data; orderbridge fills the outcome."""
    return Table(
        name,
        METADATA,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("account", String(100)),
        Column("order_id", String(64), nullable=False),
        *columns,
        Column(
            "status",
            String(16),
            nullable=False,
            server_default="new",
            index=True,
            comment="new | processed | rejected",
        ),
        Column("error", Text, comment="Why the row was rejected: field and rule."),
        Column("command_id", String(36), comment="orderbridge's command id once processed."),
        Column("created_at", _TS, nullable=False, server_default=text("CURRENT_TIMESTAMP")),
        Column("processed_at", _TS),
    )


def _child(name: str, parent: str, *columns: Column[Any]) -> Table:
    return Table(
        name,
        METADATA,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column(f"{parent}_id", Integer, ForeignKey(f"erp_{parent}s.id"), nullable=False, index=True),
        *columns,
    )


erp_acceptances = _inbound(
    "erp_acceptances",
    Column("accepted", Boolean, nullable=False),
    Column("erp_reference", String(200)),
    Column("reason", Text),
)
erp_changes = _inbound(
    "erp_changes",
    Column("request_id", String(100)),
    Column("reason", Text),
    Column("discount_cents", Integer),
    Column("increment_cents", Integer),
)
erp_change_items = _child(
    "erp_change_items",
    "change",
    Column("operation", String(10), nullable=False, comment="remove | add"),
    Column("sku_id", String(64)),
    Column("quantity", Integer),
    Column("unit_price_cents", Integer),
)
erp_invoices = _inbound(
    "erp_invoices",
    Column("invoice_number", String(64)),
    Column("invoice_value_cents", Integer),
    Column("issuance_date", String(40)),
    Column("invoice_type", String(10), comment="Output (sale, default) | Input (return)"),
    Column("invoice_key", String(200)),
    Column("invoice_url", Text),
    Column("courier", String(200)),
    Column("tracking_number", String(200)),
    Column("tracking_url", Text),
)
erp_invoice_items = _child(
    "erp_invoice_items",
    "invoice",
    Column("sku_id", String(64)),
    Column("quantity", Integer),
    Column("unit_price_cents", Integer),
    Column("description", String(200)),
)
erp_tracking_numbers = _inbound(
    "erp_tracking_numbers",
    Column("invoice_number", String(64)),
    Column("tracking_number", String(200)),
    Column("courier", String(200)),
    Column("tracking_url", Text),
    Column("dispatched_date", String(40)),
)
erp_tracking_updates = _inbound(
    "erp_tracking_updates",
    Column("invoice_number", String(64)),
    Column("is_delivered", Boolean, nullable=False),
    Column("delivered_date", String(40)),
)
erp_tracking_update_events = _child(
    "erp_tracking_update_events",
    "tracking_update",
    Column("city", String(200)),
    Column("state", String(100)),
    Column("description", Text),
    Column("event_date", String(40)),
)
erp_cancellations = _inbound(
    "erp_cancellations",
    Column("decision", String(10), nullable=False, comment="cancel | deny (deny a shopper's request)"),
    Column("reason", Text),
    Column("cancellation_request_id", String(100)),
)


def ddl(dialect: str) -> str:
    """The CREATE statements for `sqlite` or `postgresql`, as documented for ERP teams."""
    engine_dialect: Any = postgresql.dialect() if dialect == "postgresql" else sqlite.dialect()  # type: ignore[no-untyped-call]
    parts = []
    for table in METADATA.sorted_tables:
        parts.append(str(CreateTable(table).compile(dialect=engine_dialect)).strip() + ";")
        parts += [str(CreateIndex(i).compile(dialect=engine_dialect)).strip() + ";" for i in table.indexes]
    return "\n\n".join(parts) + "\n"
