import structlog

from orderbridge.logsetup import configure_logging


def test_configured_logs_go_to_stderr_with_secret_fields_redacted(capsys) -> None:  # type: ignore[no-untyped-def]
    configure_logging("INFO", json=True)
    structlog.get_logger("t").info("call", app_token="s3cr3t-token", path="/api/oms/pvt/orders/1")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "s3cr3t-token" not in captured.err
    assert '"path": "/api/oms/pvt/orders/1"' in captured.err
    structlog.reset_defaults()


def test_records_below_the_level_are_dropped(capsys) -> None:  # type: ignore[no-untyped-def]
    configure_logging("WARNING")
    structlog.get_logger("t").info("quiet")
    structlog.get_logger("t").warning("loud")
    err = capsys.readouterr().err
    assert "quiet" not in err and "loud" in err
    structlog.reset_defaults()


def test_the_files_log_level_and_format_apply_when_the_command_line_chose_neither(capsys) -> None:  # type: ignore[no-untyped-def]
    from orderbridge.logsetup import configure_from_command_line, configure_from_settings

    configure_from_command_line(None, None)
    configure_from_settings("debug", "json")
    structlog.get_logger("t").debug("detail", n=1)
    err = capsys.readouterr().err
    assert '"event": "detail"' in err and '"level": "debug"' in err
    structlog.reset_defaults()


def test_a_level_given_on_the_command_line_beats_the_files(capsys) -> None:  # type: ignore[no-untyped-def]
    from orderbridge.logsetup import configure_from_command_line, configure_from_settings

    configure_from_command_line("warning", "console")
    configure_from_settings("debug", "json")
    structlog.get_logger("t").info("quiet")
    structlog.get_logger("t").warning("loud")
    err = capsys.readouterr().err
    assert "quiet" not in err and "loud" in err and not err.lstrip().startswith("{")
    structlog.reset_defaults()


def test_the_environments_log_level_is_read_in_any_case(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from orderbridge.config import AccountSettings, Settings

    monkeypatch.setenv("ORDERBRIDGE_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("ORDERBRIDGE_LOG_FORMAT", "Console")
    settings = Settings(accounts=(AccountSettings(name="shop", app_key="k", app_token="t"),))
    assert (settings.log_level, settings.log_format) == ("debug", "console")


def test_logs_are_json_by_default_when_stdout_is_not_a_terminal(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import io

    from orderbridge.logsetup import wants_json

    monkeypatch.setattr("sys.stdout", io.StringIO())
    assert wants_json(None) is True
    assert wants_json("console") is False


async def test_a_migration_logs_one_line(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from orderbridge.store.db import Database

    configure_logging("INFO")
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    await db.migrate()
    await db.migrate()
    await db.dispose()
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and "database_migrated" in lines[0], lines
    structlog.reset_defaults()
