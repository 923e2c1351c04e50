"""The files ERP adapter: orders out as JSON files, the ERP's commands in as JSON or CSV files.

- **outbox/**: each order handed over is written as `<account>__<orderId>.order.json` (normalized order and
  VTEX's raw document); cancellation notices as `<account>__<orderId>__canceled.json` and
  `<account>__<orderId>__cancellation-requested__<requestId>.json`. Every file is written under a
  temporary dot-name, flushed to disk and renamed into place, so the ERP never reads half a file. A
  repeated handover rewrites the same file (same name): idempotent on the ERP's side.
- **inbox/**: the ERP drops command files. JSON: one object `{"command": <kind>, "orderId": …, "account"?: …,
  …fields}` or a list of them, `command` one of `acceptance`, `invoice`, `tracking-number`,
  `tracking-events`, `change`, `cancellation`, `cancellation-denial` (fields as in the REST API, tracking
  kinds with `invoiceNumber`). CSV: invoices (one row per line, header with `sku_id`) or tracking numbers
  (header without `sku_id`), see `orderbridge.erp.parsing`. Write under a dot-name or with a `.tmp`/`.part`
  suffix, then rename: such files are ignored until renamed.
- Outcome: a file whose every command was accepted moves to `inbox/done/` (with `<name>.result.json`
  listing the command ids); otherwise to `inbox/error/` with `<name>.error.txt` beside it saying, per
  command, why (field and rule) — and which commands of the file were accepted anyway. Each command is
  submitted with the key `file:<name>:<n>`, so dropping the same file again never relays one twice.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orderbridge.core.commands import Command
from orderbridge.erp.addressing import owning_account
from orderbridge.erp.errors import ErpUnavailable
from orderbridge.erp.parsing import (
    Acceptance,
    ParseError,
    Problem,
    csv_field,
    load_json,
    parse_acceptance,
    parse_command,
    parse_invoices_csv,
    parse_tracking_csv,
    problem,
    renamed,
)
from orderbridge.erp.polling import poll_until_stopped
from orderbridge.erp.port import (
    AcceptanceLater,
    CancellationDecision,
    CommandSink,
    HandoverOrder,
    HandoverResult,
    SubmitOutcome,
)

_IGNORED_SUFFIXES = (".tmp", ".part", ".error.txt", ".result.json")
_SAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class FilesConfig:
    """`root` holds `outbox/` and `inbox/` (created if missing) unless `outbox_dir` / `inbox_dir` put them
    elsewhere. `account`: the account of command files that name none (single-account installations)."""

    root: Path
    account: str | None = None
    poll_interval_s: float = 1.0
    outbox_dir: Path | None = None
    inbox_dir: Path | None = None

    @property
    def outbox(self) -> Path:
        return self.outbox_dir or self.root / "outbox"

    @property
    def inbox(self) -> Path:
        return self.inbox_dir or self.root / "inbox"


@dataclass(frozen=True)
class _Entry:
    """One thing a file asks: a command or an acceptance, for one order."""

    label: str
    account: str | None
    order_id: str | None
    command: Command | None = None
    acceptance: Acceptance | None = None
    #: The CSV rows the command was read from (None for JSON): refusals then name rows and columns.
    csv_rows: tuple[int, ...] | None = None


@dataclass(frozen=True)
class FileOutcome:
    name: str
    accepted: tuple[str, ...]  # "label: command <id>" lines
    rejected: tuple[str, ...]  # "label: why" lines

    @property
    def ok(self) -> bool:
        return not self.rejected


def _safe(part: str) -> str:
    return _SAFE.sub("_", part)


def write_atomically(path: Path, data: bytes) -> None:
    """Write beside the target under a dot-name, fsync, rename: readers see all of it or nothing.

    The folder is synced too, so a handover answered as done survives a power cut (the rename with it).
    """
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


class FilesErp:
    """`ErpAdapter` over two folders. Acceptance comes later, as an `acceptance` command file."""

    name = "files"

    def __init__(self, config: FilesConfig) -> None:
        self._config = config
        self._sink: CommandSink | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        #: False: `start` does not start the inbox loop; whoever set it runs `run_way_back` (the
        #: pipeline does, once per cluster: `pipeline.singletons`).
        self.runs_own_loop = True
        self.ensure_folders()

    def ensure_folders(self) -> None:
        for folder in (
            self._config.outbox,
            self._config.inbox,
            self._config.inbox / "done",
            self._config.inbox / "error",
        ):
            folder.mkdir(parents=True, exist_ok=True)

    async def start(self, sink: CommandSink) -> None:
        self._sink = sink
        self._stop.clear()
        if self.runs_own_loop:
            self._task = asyncio.create_task(self._poll_forever(), name="files-inbox-poller")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def hand_over(self, order: HandoverOrder) -> HandoverResult:
        document = {
            "account": order.account,
            "orderId": order.order_id,
            "order": order.snapshot.to_dict(),
            "raw": order.raw,
            "handedOverAt": datetime.now(UTC).isoformat(),
        }
        await self._write_out(f"{_safe(order.account)}__{_safe(order.order_id)}.order.json", document)
        return AcceptanceLater()

    async def notify_canceled(self, account: str, order_id: str, reason: str | None) -> None:
        document = {"event": "order-canceled", "account": account, "orderId": order_id, "reason": reason}
        await self._write_out(f"{_safe(account)}__{_safe(order_id)}__canceled.json", document)

    async def request_cancellation(
        self, account: str, order_id: str, request_id: str | None, reason: str | None
    ) -> CancellationDecision | None:
        """The ERP answers with a `cancellation` or `cancellation-denial` command file."""
        document = {
            "event": "cancellation-requested",
            "account": account,
            "orderId": order_id,
            "requestId": request_id,
            "reason": reason,
        }
        name = (
            f"{_safe(account)}__{_safe(order_id)}__cancellation-requested__{_safe(request_id or 'none')}.json"
        )
        await self._write_out(name, document)
        return None

    async def poll_once(self) -> list[FileOutcome]:
        """Process every complete file in the inbox once, oldest first."""
        if self._sink is None:
            raise RuntimeError("start(sink) first")
        outcomes = []
        for path in self._inbox_files():
            outcomes.append(await self._process(self._sink, path))
        return outcomes

    # --- internals ---

    async def _write_out(self, name: str, document: dict[str, Any]) -> None:
        data = json.dumps(document, ensure_ascii=False, indent=1).encode()
        try:
            await asyncio.to_thread(write_atomically, self._config.outbox / name, data)
        except OSError as exc:
            raise ErpUnavailable(f"cannot write to the outbox ({type(exc).__name__})") from exc

    async def run_way_back(self, stop: asyncio.Event) -> None:
        """The inbox loop until `stop` is set, for a caller that runs it itself."""
        await poll_until_stopped(self.poll_once, stop, self._config.poll_interval_s, adapter="files")

    async def _poll_forever(self) -> None:
        await poll_until_stopped(self.poll_once, self._stop, self._config.poll_interval_s, adapter="files")

    def _inbox_files(self) -> list[Path]:
        files = [
            p
            for p in self._config.inbox.iterdir()
            if p.is_file()
            and not p.name.startswith(".")
            and not p.name.endswith(_IGNORED_SUFFIXES)
            and p.suffix.lower() in (".json", ".csv")
        ]
        return sorted(files, key=lambda p: (p.stat().st_mtime_ns, p.name))

    async def _process(self, sink: CommandSink, path: Path) -> FileOutcome:
        try:
            text = (await asyncio.to_thread(path.read_bytes)).decode("utf-8-sig")
            entries = self._entries(path, text)
        except UnicodeDecodeError:
            outcome = FileOutcome(path.name, (), ("file: is not UTF-8 text [encoding]",))
        except ParseError as exc:
            outcome = FileOutcome(path.name, (), tuple(p.message for p in exc.problems))
        else:
            outcome = await self._submit_all(sink, path.name, entries)
        await asyncio.to_thread(self._file_away, path, outcome)
        return outcome

    def _entries(self, path: Path, text: str) -> list[_Entry]:
        if path.suffix.lower() == ".csv":
            header = text.splitlines()[0] if text.strip() else ""
            parsed = parse_invoices_csv(text) if "sku_id" in header.split(",") else parse_tracking_csv(text)
            return [
                _Entry(
                    f"rows {', '.join(map(str, c.rows))}",
                    c.account or self._config.account,
                    c.order_id,
                    command=c.command,
                    csv_rows=c.rows,
                )
                for c in parsed
            ]
        data = load_json(text, field="file")
        items = data if isinstance(data, list) else [data]
        if not items:
            raise ParseError([problem("file", "empty", "holds no command")])
        entries: list[_Entry] = []
        problems: list[Problem] = []
        for n, item in enumerate(items):
            prefix = f"[{n}]" if isinstance(data, list) else ""
            try:
                entries.append(self._json_entry(path.name, n, prefix, item))
            except ParseError as exc:
                problems.extend(exc.problems)
        if problems:
            raise ParseError(problems)
        return entries

    def _json_entry(self, name: str, n: int, prefix: str, item: object) -> _Entry:
        where = prefix or "command"
        if not isinstance(item, dict):
            raise ParseError([problem(where, "object_type", "must be a JSON object")])
        body = dict(item)
        kind, order_id, account = (
            body.pop("command", None),
            body.pop("orderId", None),
            body.pop("account", None),
        )
        problems: list[Problem] = []
        if not isinstance(kind, str):
            problems.append(problem(f"{prefix}.command" if prefix else "command", "missing", "is required"))
        if not isinstance(order_id, str) or not order_id:
            problems.append(problem(f"{prefix}.orderId" if prefix else "orderId", "missing", "is required"))
        if account is not None and not isinstance(account, str):
            problems.append(
                problem(f"{prefix}.account" if prefix else "account", "string_type", "must be a string")
            )
        if problems:
            raise ParseError(problems)
        assert isinstance(kind, str) and isinstance(order_id, str)
        label = f"{prefix or 'command'} ({kind} for {order_id})"
        owner = account if isinstance(account, str) else self._config.account
        if kind == "acceptance":
            return _Entry(label, owner, order_id, acceptance=parse_acceptance(body, prefix))
        command = parse_command(kind, body, default_request_id=f"file-{name}-{n}", prefix=prefix)
        return _Entry(label, owner, order_id, command=command)

    async def _submit_all(self, sink: CommandSink, name: str, entries: Sequence[_Entry]) -> FileOutcome:
        accepted, rejected = [], []
        for n, entry in enumerate(entries):
            account, why = await self._resolve(sink, entry)
            if account is not None and entry.order_id is not None:
                if entry.acceptance is not None:
                    answer = entry.acceptance
                    outcome = await sink.report_acceptance(
                        account,
                        entry.order_id,
                        accepted=answer.accepted,
                        erp_reference=answer.erp_reference,
                        reason=answer.reason,
                    )
                    if outcome.accepted:
                        again = " (the same answer as before)" if outcome.repeat else ""
                        accepted.append(f"{entry.label}: acceptance recorded{again}")
                        continue
                    rejected.append(f"{entry.label}: {'; '.join(outcome.problems)}")
                    continue
                assert entry.command is not None
                outcome = await sink.submit(
                    account,
                    entry.order_id,
                    entry.command,
                    channel="files",
                    idempotency_key=f"file:{name}:{n}",
                )
                if outcome.accepted:
                    again = " (the same command as before)" if outcome.repeat else ""
                    accepted.append(f"{entry.label}: command {outcome.command_id}{again}")
                    continue
                why = _refusal_words(outcome, entry.csv_rows) or "refused without a reason"
            rejected.append(f"{entry.label}: {why}")
        return FileOutcome(name, tuple(accepted), tuple(rejected))

    async def _resolve(self, sink: CommandSink, entry: _Entry) -> tuple[str | None, str | None]:
        """(account, None) when the entry's order can be addressed, else (None, why).

        The account comes from the file, else the configured default, else the outbox (the order was
        handed over as `<account>__<orderId>.order.json`), so ERPs may leave it out.
        """
        order_id = entry.order_id or ""

        async def handed_over_to() -> list[str]:
            pattern = f"*__{_safe(order_id)}.order.json"
            return [p.name.split("__")[0] for p in self._config.outbox.glob(pattern)]

        return await owning_account(sink, order_id, entry.account, handed_over_to, field="orderId")

    def _file_away(self, path: Path, outcome: FileOutcome) -> None:
        folder = self._config.inbox / ("done" if outcome.ok else "error")
        target = folder / path.name
        if target.exists():  # the same name dropped again: keep both
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
            target = folder / f"{path.stem}.{stamp}{path.suffix}"
        if outcome.ok:
            report = json.dumps({"file": path.name, "accepted": list(outcome.accepted)}, indent=1).encode()
            write_atomically(target.with_name(target.name + ".result.json"), report)
        else:
            lines = [f"{path.name} was not processed completely.", "", "Rejected:"]
            lines += [f"- {r}" for r in outcome.rejected]
            if outcome.accepted:
                lines += ["", "Accepted anyway (dropping this file again will not repeat them):"]
                lines += [f"- {a}" for a in outcome.accepted]
            write_atomically(target.with_name(target.name + ".error.txt"), ("\n".join(lines) + "\n").encode())
        os.replace(path, target)


def _refusal_words(outcome: SubmitOutcome, csv_rows: tuple[int, ...] | None) -> str:
    """The refusal as the file's author wrote the command: JSON field names, or a CSV's rows and columns."""
    if csv_rows is None or not outcome.violations:
        return "; ".join(outcome.problems)
    return "; ".join(
        f"{renamed(v.field, v.message, csv_field(v.field, csv_rows))} [{v.rule}]" for v in outcome.violations
    )
