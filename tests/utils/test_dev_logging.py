"""Development log lines: readable tracebacks that print no local variables (no secrets)."""

from __future__ import annotations

import logging

import pytest

from backend.utils.logging import configure_logging

SECRET = "s3cret-connection-password-0123456789"


def _fail_with_a_secret_in_scope() -> None:
    password = SECRET
    raise ConnectionRefusedError(f"connect failed ({len(password)} characters of password in scope)")


def test_console_tracebacks_show_no_local_variables(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(level="INFO", json=False)
    try:
        _fail_with_a_secret_in_scope()
    except ConnectionRefusedError:
        # As uvicorn logs an exception that escaped the app: a standard-library logger.
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    output = capsys.readouterr().out
    with capsys.disabled():
        configure_logging(level="INFO", json=False)
    assert "Traceback" in output and "_fail_with_a_secret_in_scope" in output
    assert SECRET not in output
