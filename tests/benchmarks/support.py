"""What benchmarks share: a freshly migrated database, serving the API, and waiting for it to answer."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from backend.config import DatabaseSettings
from backend.utils.database_urls import DatabaseUrls, resolve_database_urls
from backend.utils.embedded_db import EmbeddedPostgres
from backend.utils.migrations import upgrade


@contextmanager
def migrated_database(name: str) -> Iterator[tuple[EmbeddedPostgres, DatabaseUrls]]:
    """Database ``name`` on the embedded server, rebuilt by the migrations, dropped at the end.

    Blocking (Alembic runs its own event loop): enter it outside any running loop.
    """
    settings = DatabaseSettings(url=None, owner_url=None)
    server = EmbeddedPostgres(settings.embedded_data_dir, settings.embedded_port)
    server.ensure_running()
    server.drop_database(name)
    urls = resolve_database_urls(settings, database=name)
    upgrade(urls.owner, urls.app_role)
    try:
        yield server, urls
    finally:
        server.drop_database(name)


def server_command(port: int, *options: str) -> list[str]:
    """``python -m backend.server`` (the production entry point) on loopback ``port``."""
    return [sys.executable, "-m", "backend.server", "--host", "127.0.0.1", "--port", str(port), *options]


def wait_until_healthy(process: subprocess.Popen[bytes], base_url: str, limit_seconds: float = 120) -> None:
    """Return once ``GET /api/health`` answers 200; terminate ``process`` if it never does."""
    deadline = time.monotonic() + limit_seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/api/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass  # not listening yet
        time.sleep(0.2)
    process.terminate()
    raise RuntimeError("the API server did not start")
