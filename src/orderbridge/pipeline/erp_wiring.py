"""Building the ERP adapter(s) the configuration names, and routing each account to its own.

Most installations have one adapter (`[erp] adapter = ...`); an account may name another with
`erp_adapter`, in which case `RoutedErp` sends each order to its account's adapter.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from orderbridge.config import ErpAdapterName, ErpSettings, Settings
from orderbridge.erp.port import (
    CancellationDecision,
    CommandSink,
    ErpAdapter,
    HandoverOrder,
    HandoverResult,
    SupportsLookup,
)


def build_erp(settings: Settings) -> ErpAdapter:
    names: dict[str, ErpAdapterName] = {
        account.name: account.erp_adapter or settings.erp.adapter for account in settings.accounts
    }
    adapters = {
        name: build_adapter(name, settings.erp, ca_bundle=settings.ca_bundle)
        for name in sorted(set(names.values()))
    }
    if len(adapters) == 1:
        return next(iter(adapters.values()))
    return RoutedErp({account: adapters[name] for account, name in names.items()})


def build_adapter(name: ErpAdapterName, erp: ErpSettings, *, ca_bundle: Path | None = None) -> ErpAdapter:
    """One adapter; imports stay inside so an installation only loads what it uses. ``ca_bundle``: the
    extra CA certificates outgoing HTTPS trusts (the webhook's, as VTEX's)."""
    if name == "warehouse":
        from orderbridge.erp.warehouse import SimulatedWarehouse

        return SimulatedWarehouse.from_settings(erp.warehouse)
    if name == "rest":
        from orderbridge.erp.pull import PullOnlyErp

        return PullOnlyErp()
    if name == "webhook" and erp.webhook is not None:
        from orderbridge.erp.webhook import WebhookConfig, WebhookErp

        secret = erp.webhook.secret.get_secret_value() if erp.webhook.secret else ""
        webhook = erp.webhook
        return WebhookErp(
            WebhookConfig(
                webhook.url,
                secret,
                webhook.timeout_s,
                connect_timeout_s=webhook.connect_timeout_s,
                ca_bundle=ca_bundle,
            )
        )
    if name == "staging" and erp.staging is not None:
        from orderbridge.erp.staging import StagingConfig, StagingTablesErp

        staging = erp.staging
        return StagingTablesErp(StagingConfig(staging.database_url, poll_interval_s=staging.poll_interval_s))
    if name == "files" and erp.files is not None:
        from orderbridge.erp.files import FilesConfig, FilesErp

        files = erp.files
        return FilesErp(
            FilesConfig(
                files.outbox.parent,
                poll_interval_s=files.poll_interval_s,
                outbox_dir=files.outbox,
                inbox_dir=files.inbox,
            )
        )
    raise ValueError(f"the ERP adapter {name!r} needs an [erp.{name}] section")


class RoutedErp:
    """An `ErpAdapter` that hands each account's orders to that account's adapter."""

    name = "routed"

    def __init__(self, by_account: Mapping[str, ErpAdapter]) -> None:
        self.by_account = dict(by_account)
        self._distinct = list({id(a): a for a in self.by_account.values()}.values())

    async def start(self, sink: CommandSink) -> None:
        for adapter in self._distinct:
            await adapter.start(sink)

    async def stop(self) -> None:
        for adapter in self._distinct:
            await adapter.stop()

    async def hand_over(self, order: HandoverOrder) -> HandoverResult:
        return await self.by_account[order.account].hand_over(order)

    async def lookup(self, account: str, order_id: str) -> HandoverResult | None:
        """The account's adapter's own lookup, when it has one (see `pipeline.handover`)."""
        adapter = self.by_account[account]
        return await adapter.lookup(account, order_id) if isinstance(adapter, SupportsLookup) else None

    async def notify_canceled(self, account: str, order_id: str, reason: str | None) -> None:
        await self.by_account[account].notify_canceled(account, order_id, reason)

    async def request_cancellation(
        self, account: str, order_id: str, request_id: str | None, reason: str | None
    ) -> CancellationDecision | None:
        return await self.by_account[account].request_cancellation(account, order_id, request_id, reason)
