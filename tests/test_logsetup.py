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
