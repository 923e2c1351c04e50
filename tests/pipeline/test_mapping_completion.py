"""`isCompleted` from real VTEX documents reaches the snapshot decisions and validation read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from orderbridge.core.orders import OrderSnapshot
from orderbridge.pipeline.mapping import order_to_snapshot
from orderbridge.vtex import Order

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "vtex"


def document(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / name).read_text("utf-8"))
    return loaded


def test_an_order_vtex_says_is_not_completed_is_snapshotted_as_incomplete() -> None:
    doc = {**document("get-order.openapi-example.json"), "isCompleted": False}

    from_dict = order_to_snapshot(Order.from_raw(doc))
    from_body = order_to_snapshot(Order.from_json(json.dumps(doc).encode()))

    assert from_dict.is_completed is False and from_body.is_completed is False
    assert OrderSnapshot.from_dict(from_dict.to_dict()).is_completed is False, "stored and read back"


def test_a_document_older_than_the_iscompleted_field_counts_as_completed() -> None:
    old = document("get-order.real-2015-fastshop-sandbox-invoiced.json")
    assert "isCompleted" not in old

    assert order_to_snapshot(Order.from_raw(old)).is_completed is True
    assert order_to_snapshot(Order.from_raw(document("get-order.openapi-example.json"))).is_completed is True


def test_a_snapshot_stored_before_the_field_existed_reads_as_completed() -> None:
    stored = order_to_snapshot(Order.from_raw(document("get-order.openapi-example.json"))).to_dict()
    del stored["is_completed"]

    assert OrderSnapshot.from_dict(stored).is_completed is True
