"""One place that decides where log lines go and how they look.

Libraries in this package only call `structlog.get_logger`; the command line decides the level and the
renderer. Logs go to stderr so that `--json` output on stdout stays machine-readable. Values that look like
secrets are redacted here as a second line of defence (the VTEX client already keeps them out).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_SECRET_KEYS = ("app_key", "app_token", "apptoken", "appkey", "token", "secret", "authorization", "password")


def _redact_secrets(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        if any(part in key.lower() for part in _SECRET_KEYS):
            event[key] = "***"
    return event


class _CurrentStderr:
    """Writes to whatever `sys.stderr` is at the time of writing, not at configuration time, so a
    replaced stream (pytest's capture, a daemon's redirect) never leaves loggers holding a closed file."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


_explicit: dict[str, bool] = {"level": False, "format": False}


def wants_json(log_format: str | None) -> bool:
    """`json` or `console`; unset: JSON when stdout is not a terminal (a service, a pipe, a file)."""
    if log_format is None or not log_format.strip():
        return not sys.stdout.isatty()
    fmt = log_format.strip().lower()
    if fmt not in ("json", "console"):
        raise ValueError(f"log format must be json or console, not {log_format!r}")
    return fmt == "json"


def configure_from_command_line(level: str | None, log_format: str | None) -> None:
    """The CLI's options (or ORDERBRIDGE_LOG_LEVEL / ORDERBRIDGE_LOG_FORMAT); what they leave unset
    the configuration file may set later (`configure_from_settings`)."""
    _explicit["level"] = bool(level)
    _explicit["format"] = bool(log_format)
    configure_logging(level or "INFO", json=wants_json(log_format))


def configure_from_settings(level: str, log_format: str | None) -> None:
    """`log_level` / `log_format` of the TOML file, unless the command line or environment chose."""
    if _explicit["level"] and _explicit["format"]:
        return
    current = logging.getLevelName(logging.getLogger().level)
    chosen_level = current if _explicit["level"] else level
    chosen_json = _current_json if _explicit["format"] else wants_json(log_format)
    configure_logging(chosen_level, json=chosen_json)


_current_json = False


def configure_logging(level: str = "INFO", *, json: bool = False) -> None:
    """Configure structlog (and the stdlib root logger) for a command's whole process."""
    global _current_json
    _current_json = json
    numeric = logging.getLevelNamesMapping().get(level.strip().upper(), logging.INFO)
    logging.basicConfig(stream=_CurrentStderr(), level=numeric, format="%(message)s", force=True)
    # alembic: `database_migrated` says in one line what its INFO lines say in ten.
    for chatty in ("httpx2", "httpcore2", "httpx", "httpcore", "uvicorn.access", "alembic"):
        # One line per HTTP request would drown the structured `vtex.call` events that say more.
        logging.getLogger(chatty).setLevel(max(numeric, logging.WARNING))
    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()),  # type: ignore[arg-type]
        # No caching: a cached logger would keep this configuration's processors for good, and
        # `structlog.testing.capture_logs` (used by the suite) could no longer see its events.
        cache_logger_on_first_use=False,
    )
