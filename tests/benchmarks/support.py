"""What benchmarks share: a freshly migrated database, the app's settings, serving the API, waiting
for it to answer, and writing the JSON report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from backend.config import AuthSettings, DatabaseSettings, ObservabilitySettings, Settings
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


def app_settings(app_url: str, owner_url: str) -> Settings:
    """Settings for an app built in the benchmark's process on its database, logging warnings only."""
    return Settings(
        environment="test",
        database=DatabaseSettings(url=SecretStr(app_url), owner_url=SecretStr(owner_url), pool_size=5),
        auth=AuthSettings(secret_key=SecretStr("bench-secret-key-0123456789-0123456789-abcdef")),
        observability=ObservabilitySettings(log_level="WARNING", log_json=False),
    )


def server_env(urls: DatabaseUrls, **extra: str) -> dict[str, str]:
    """The environment of a server (or worker) process on the benchmark's database; ``extra`` added."""
    return {
        **os.environ,
        "DATABASE_URL": urls.app,
        "DATABASE_OWNER_URL": urls.owner,
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
        **extra,
    }


def start_server(
    urls: DatabaseUrls, workers: int, *, limit_seconds: float = 120, quiet: bool = False, **env: str
) -> tuple[subprocess.Popen[bytes], str]:
    """What ``make serve WORKERS=n`` runs, on the benchmark's database and a free port, once it answers
    and has warmed up; ``env`` added to :func:`server_env`'s, its output dropped when ``quiet``."""
    port = free_port()
    process = subprocess.Popen(
        server_command(port, "--workers", str(workers)),
        env=server_env(urls, **env),
        cwd=ROOT,
        stdout=subprocess.DEVNULL if quiet else None,
    )
    base_url = f"http://127.0.0.1:{port}"
    wait_until_healthy(process, base_url, limit_seconds)
    try:
        wait_until_warm(base_url, limit_seconds, answers=2 * workers)
    except RuntimeError:
        process.terminate()
        raise
    return process, base_url


def write_report(name: str, report: Mapping[str, Any], default: Callable[[Any], Any] | None = None) -> Path:
    """``report`` as ``.bench/<name>.json`` (``default`` as in :func:`json.dumps`); returns its path."""
    out = ROOT / ".bench" / f"{name}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=default))
    return out


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


WARM_CHECKS = ("coach_warm", "forecaster_warm")


def wait_until_warm(base_url: str, limit_seconds: float = 300, *, answers: int = 1) -> float:
    """Seconds until readiness reports the start-up warm-up done in ``answers`` answers in a row
    (several processes behind one port each answer some). A balancer sends nothing before, and the
    warm-up (loading models in a thread) burns the CPU a measurement needs: a benchmark started at
    once measured it."""
    started = time.monotonic()
    in_a_row = 0
    while in_a_row < answers:
        checks = httpx.get(f"{base_url}/api/ready", timeout=10).json()["checks"]
        in_a_row = in_a_row + 1 if all(checks[name]["ok"] for name in WARM_CHECKS) else 0
        if time.monotonic() - started > limit_seconds:
            raise RuntimeError(f"{base_url} never finished warming up")
        if in_a_row < answers:
            time.sleep(0.2 if in_a_row else 0.5)
    return time.monotonic() - started


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


METRIC_COLUMNS = ("tenant_id", "metric", "dimensions_key", "ts", "value", "dimensions", "source")


async def copy_points(connection: Any, records: Sequence[tuple[Any, ...]]) -> float:
    """Seconds to COPY ``records`` (``METRIC_COLUMNS``) straight into ``business_metrics`` in one
    transaction: the raw baseline. PostgreSQL refuses COPY FROM into a table under row-level
    security, so ``connection`` is the superuser's: an upper bound that skips RLS checks."""
    began = time.perf_counter()
    async with connection.transaction():
        await connection.copy_records_to_table(
            "business_metrics", records=records, columns=list(METRIC_COLUMNS)
        )
    return time.perf_counter() - began
