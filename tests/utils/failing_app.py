"""The real app plus one route that fails unexpectedly, for uvicorn subprocesses.

    uvicorn --factory tests.utils.failing_app:build

Reads the database URLs from ``FAILING_APP_DATABASE_URL`` / ``FAILING_APP_OWNER_URL`` /
``FAILING_APP_WORKER_URL``, and
``FAILING_APP_LOG_JSON`` (``true``: JSON lines, otherwise the development console).
``GET /test/explode`` logs the request's headers, then raises an error whose frames hold
big local variables and whose message quotes the API key and a registered secret (as a
decrypted connector credential is), so a test can check what the log keeps of them.
"""

from __future__ import annotations

import os
import sys

import structlog
from fastapi import FastAPI, Request

from backend.config import PROJECT_ROOT
from backend.main import create_app
from backend.utils.database_urls import DatabaseUrls
from backend.utils.redaction import register_secrets
from tests.conftest import make_settings

CREDENTIAL_HEADER = "x-planted-credential"
logger = structlog.get_logger(__name__)


def _explode_deeper(rows: list[dict[str, str]], depth: int) -> None:
    ballast = [dict(row) for row in rows[:200]]  # big locals in every frame
    if depth == 0:
        row = rows[0]
        raise RuntimeError(
            f"upstream refused credential {row['credential']} for key {row['api_key']} "
            f"({len(ballast)} rows pending)"
        )
    _explode_deeper(rows, depth - 1)


async def explode(request: Request) -> None:
    credential = request.headers[CREDENTIAL_HEADER]
    register_secrets(credential)  # what decrypting a connector's credentials does
    api_key = request.headers.get("x-api-key", "")
    logger.warning("about_to_fail", headers=dict(request.headers))
    rows = [{"customer": f"c{i}", "credential": credential, "api_key": api_key} for i in range(5_000)]
    _explode_deeper(rows, depth=20)


def serve_command(urls: DatabaseUrls, port: int, *, log_json: bool) -> tuple[list[str], dict[str, str]]:
    """argv and environment serving this app under uvicorn on ``127.0.0.1:port`` (cwd: PROJECT_ROOT)."""
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT),
        "FAILING_APP_DATABASE_URL": urls.app,
        "FAILING_APP_OWNER_URL": urls.owner,
        "FAILING_APP_WORKER_URL": urls.require_worker(),
        "FAILING_APP_LOG_JSON": "true" if log_json else "false",
    }
    command = [sys.executable, "-m", "uvicorn", "--factory", "tests.utils.failing_app:build"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
    return command, env


def build() -> FastAPI:
    urls = DatabaseUrls(
        app=os.environ["FAILING_APP_DATABASE_URL"],
        owner=os.environ["FAILING_APP_OWNER_URL"],
        app_role="",
        embedded=False,
        worker=os.environ["FAILING_APP_WORKER_URL"],
    )
    settings = make_settings(urls)
    settings.observability.log_json = os.environ.get("FAILING_APP_LOG_JSON") == "true"
    app = create_app(settings)
    app.add_api_route("/test/explode", explode, methods=["GET"])
    return app
