"""The four moments as idempotent job handlers: intake, download, handover, relay, reconciliation.

Where things are:
- `runtime.Pipeline` wires it all (queue + handlers, feed pollers, sink, reconciliation, ERP adapter);
  the process around it (`orderbridge.service.Service`: settings, HTTP API, signals) lives beside the CLI.
- Intake: `intake_feed` (Feed v3 pollers), `intake_hook` (the hook receiver's logic), `intake` (store the
  events and enqueue their syncs in one transaction), `reconcile` (the periodic sweep).
- Jobs: `sync` (`sync_order`: Get order → store → the steps `core.decisions` names), `relay`
  (`relay_command`: an accepted ERP command → VTEX, never an invoice twice), `outbound` (commands as VTEX
  requests), `handlers` (kind → handler), `handover` (hand an order to the ERP once).
- The ERP's way in: `commands.PipelineSink` (validate → store → relay, late acceptance, current order).
- Support: `deps` (what the parts share), `mapping` (VTEX order → `OrderSnapshot`), `records` (row →
  facts), `ledger` (attempts), `accounts` (pause on auth errors), `vtex_calls` (429/auth → job
  outcomes), `erp_wiring`, `crashpoints` (crash test).
- Operators: `operators` (status, list, show, retry) and `console` (what the CLI prints).
"""
