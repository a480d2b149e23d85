"""The embedded server outlives whoever started it, and can always be stopped."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import pytest

from backend.utils.embedded_db import APP_ROLE, EmbeddedPostgres

pytestmark = pytest.mark.live


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until(predicate, timeout: float = 15.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_server_started_by_a_crashed_process_can_be_attached_to_and_stopped(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "data", _free_port()
    starter = (
        "import os, signal, sys; from pathlib import Path;"
        "from backend.utils.embedded_db import EmbeddedPostgres;"
        f"EmbeddedPostgres(Path({str(data_dir)!r}), {port}).ensure_running();"
        "os.kill(os.getpid(), signal.SIGKILL)"
    )
    crashed = subprocess.run([sys.executable, "-c", starter], cwd=Path(__file__).parents[2], check=False)
    assert crashed.returncode == -signal.SIGKILL

    server = EmbeddedPostgres(data_dir, port)
    try:
        assert server.is_running()
        credentials = server.ensure_running()  # attaches; does not start a second server
        server.ensure_database("scratch")

        async def app_role_connects() -> str:
            connection = await asyncpg.connect(credentials.url("scratch", role=APP_ROLE, driver="postgresql"))
            try:
                return str(await connection.fetchval("select current_user"))
            finally:
                await connection.close()

        assert asyncio.run(app_role_connects()) == APP_ROLE
        assert server.stop() is True
        assert not server.is_running()
        assert server.stop() is False
    finally:
        server.stop()


def test_server_restarts_after_its_postmaster_was_killed(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path / "data", _free_port())
    try:
        server.ensure_running()
        pid = int((tmp_path / "data" / "postgres" / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGKILL)
        assert _wait_until(lambda: not server.is_running())
        server.ensure_running()  # stale postmaster.pid: starts again
        assert server.is_running()
    finally:
        server.stop()


def test_a_credentials_file_from_before_the_worker_role_gains_only_its_password(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    stored = data_dir / "credentials.json"
    stored.write_text(json.dumps({"owner_password": "owner-secret", "app_password": "app-secret"}))
    stored.chmod(0o600)

    credentials = EmbeddedPostgres(data_dir, _free_port()).credentials()

    assert (credentials.owner_password, credentials.app_password) == ("owner-secret", "app-secret")
    assert len(credentials.worker_password) >= 24
    assert json.loads(stored.read_text())["worker_password"] == credentials.worker_password
    assert stored.stat().st_mode & 0o777 == 0o600
    # Read again: the same worker password (generated once, not per process).
    assert EmbeddedPostgres(data_dir, credentials.port).credentials() == credentials
