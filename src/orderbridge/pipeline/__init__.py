"""The four moments as idempotent job handlers: intake, download, handover, relay, reconciliation."""
