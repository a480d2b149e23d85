"""What benchmarks share: a freshly migrated database, serving the API, and waiting for it to answer."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from backend.config import DatabaseSettings
from backend.utils.database_urls import DatabaseUrls, resolve_database_urls
from backend.utils.embedded_db import EmbeddedPostgres
from backend.utils.migrations import upgrade
from tests.services.connectors.fakes import free_port

ROOT = Path(__file__).resolve().parents[2]


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


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def signup(client: httpx.AsyncClient, index: int) -> dict[str, str]:
    """Sign a tenant up through the API: its ``tenant_id`` and its owner's access ``token``."""
    response = await client.post(
        "/api/v1/tenants",
        json={
            "name": f"Bench {index}",
            "owner_email": f"bench-{uuid.uuid4().hex[:10]}@example.com",
            "owner_password": "benchmark-password-1",
        },
    )
    response.raise_for_status()
    body = response.json()
    return {"tenant_id": body["tenant"]["id"], "token": body["tokens"]["access_token"]}


def start_api_server(
    urls: DatabaseUrls, workers: int, settings: Mapping[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """``python -m backend.server`` with ``workers`` processes on a free loopback port, once healthy;
    ``settings`` add to (or override) its environment."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": urls.app,
        "DATABASE_OWNER_URL": urls.owner,
        "LOG_LEVEL": "WARNING",
        "SIGNUP_RATE_LIMIT_PER_HOUR": "1000",
        "PYTHONPATH": str(ROOT),
        **(settings or {}),
    }
    process = subprocess.Popen(server_command(port, "--workers", str(workers)), env=env, cwd=ROOT)
    base_url = f"http://127.0.0.1:{port}"
    wait_until_healthy(process, base_url)
    return process, base_url
