"""The worker process: its metrics port, and a dead worker being noticed by `make dev`."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import pytest

from backend.config import PROJECT_ROOT, Environment, JobSettings, Settings
from backend.utils.embedded_db import EmbeddedPostgres
from backend.worker import EXIT_METRICS_PORT_UNAVAILABLE
from tests.private_database import free_port, private_database

pytestmark = pytest.mark.live


@contextmanager
def _port_taken() -> Iterator[int]:
    """A port something else is already listening on (another worker, another `make dev`)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def _environment(**overrides: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "LOG_LEVEL": "WARNING", **overrides}
    for name in (
        "DATABASE_URL",
        "DATABASE_OWNER_URL",
        "DATABASE_WORKER_URL",
        "WORKER_METRICS_PORT",
        "WORKER_METRICS_HOST",
        "PORT",
    ):
        if name not in overrides:
            env.pop(name, None)
    return env


def test_worker_with_its_metrics_port_taken_exits_at_once_and_says_why() -> None:
    with _port_taken() as port:
        # The port is checked before the database is touched: this URL is never dialled.
        unused = "postgresql+asyncpg://nobody:nothing@127.0.0.1:9/none"
        env = _environment(
            ENVIRONMENT="test", DATABASE_URL=unused, DATABASE_OWNER_URL=unused, WORKER_METRICS_PORT=str(port)
        )
        finished = subprocess.run(
            [sys.executable, "-m", "backend.worker"],
            env=env,
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert finished.returncode == EXIT_METRICS_PORT_UNAVAILABLE, finished.stderr[-2000:]
    assert f"127.0.0.1:{port}" in finished.stderr
    assert "WORKER_METRICS_PORT" in finished.stderr
    assert "Traceback" not in finished.stderr + finished.stdout


def _registered_workers(worker_url: str) -> int:
    async def count() -> int:
        connection = await asyncpg.connect(worker_url.replace("+asyncpg", ""))
        try:
            return int(await connection.fetchval("select count(*) from procrastinate.procrastinate_workers"))
        finally:
            await connection.close()

    return asyncio.run(count())


def _until(
    condition: Callable[[], bool], process: subprocess.Popen[str], limit_seconds: float = 120.0
) -> bool:
    deadline = time.monotonic() + limit_seconds
    while time.monotonic() < deadline and process.poll() is None:
        if condition():
            return True
        time.sleep(0.3)
    return False


def test_worker_stops_gracefully_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    with private_database(tmp_path) as db:
        env = _environment(
            ENVIRONMENT="test",
            DATABASE_URL=db.urls.app,
            DATABASE_OWNER_URL=db.urls.owner,
            DATABASE_WORKER_URL=db.urls.require_worker(),
            WORKER_METRICS_PORT=str(port),
        )
        worker = subprocess.Popen(
            [sys.executable, "-m", "backend.worker"],
            env=env,
            cwd=PROJECT_ROOT,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            # Registered: past start-up, with its signal handlers in place.
            assert _until(lambda: _registered_workers(db.urls.require_worker()) == 1, worker), (
                "the worker never started"
            )
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as scraped:
                assert b"job_queue_depth" in scraped.read()
            worker.send_signal(signal.SIGTERM)
            output, _ = worker.communicate(timeout=240)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    assert worker.returncode == 0, output[-2000:]
    assert "worker_database_unavailable" not in output


def test_worker_metrics_bind_loopback_in_development_and_every_address_in_production() -> None:
    jobs = JobSettings()
    assert Settings.model_construct(environment=Environment.DEVELOPMENT, jobs=jobs).worker_metrics_host == (
        "127.0.0.1"
    )
    assert (
        Settings.model_construct(environment=Environment.TEST, jobs=jobs).worker_metrics_host == "127.0.0.1"
    )
    assert Settings.model_construct(environment=Environment.PRODUCTION, jobs=jobs).worker_metrics_host == (
        "0.0.0.0"  # what the production compose file scrapes from another container
    )
    chosen = JobSettings(worker_metrics_host="127.0.0.2")
    assert Settings.model_construct(environment=Environment.PRODUCTION, jobs=chosen).worker_metrics_host == (
        "127.0.0.2"
    )


def _port_pair() -> tuple[int, int]:
    """A free port whose successor is free too (PORT, and the worker's PORT+1)."""
    for _ in range(50):
        first = free_port()
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", first + 1))
            except OSError:
                continue
        return first, first + 1
    raise AssertionError("no two consecutive free ports")


def test_make_dev_stops_loudly_when_its_worker_dies(tmp_path: Path) -> None:
    api_port, metrics_port = _port_pair()
    db_port = free_port()
    data_dir = tmp_path / "data"
    env = _environment(
        EMBEDDED_PG_DATA_DIR=str(data_dir), EMBEDDED_PG_PORT=str(db_port), ENVIRONMENT="development"
    )
    # The worker's metrics port is derived from PORT (PORT+1), and something already holds it.
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", metrics_port))
        blocker.listen()
        make = subprocess.Popen(
            # -o: the shared virtualenv is installed already; never reinstall it from a test.
            ["make", "-s", "-o", ".venv/.installed", "dev", f"PORT={api_port}"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            _, stderr = make.communicate(timeout=240)
        finally:
            if make.poll() is None:
                os.killpg(make.pid, signal.SIGKILL)
                make.wait()
            EmbeddedPostgres(data_dir, db_port).stop()
    assert make.returncode != 0
    assert "the job worker exited (status 3)" in stderr, stderr[-3000:]
    assert f"127.0.0.1:{metrics_port}" in stderr
    with socket.socket() as probe:  # the API went down with it
        assert probe.connect_ex(("127.0.0.1", api_port)) != 0
