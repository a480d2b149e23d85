"""A live API: ``python -m backend.server`` on a free loopback port, as ``make dev`` serves it."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from backend.utils.database_urls import DatabaseUrls

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def stop_process(process: subprocess.Popen[bytes], timeout: float) -> None:
    """Ask ``process`` to stop; kill it if it has not within ``timeout`` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def live_server(urls: DatabaseUrls, workdir: Path, **environment: str) -> Iterator[str]:
    """The server's base URL while it runs; its log is ``workdir/server.log`` (shown if it dies)."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(
        {
            "PYTHONPATH": str(REPO),
            "ENVIRONMENT": "test",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "DATABASE_URL": urls.app,
            "DATABASE_OWNER_URL": urls.owner,
            "DATABASE_WORKER_URL": urls.require_worker(),
            "LOG_LEVEL": "WARNING",
            "COMPUTE_WORKERS": "1",
            # Every test client is 127.0.0.1 and the limits' counters live in the shared test
            # database: as make_settings does for in-process apps, limits no suite run can reach.
            "SIGNUP_RATE_LIMIT_PER_HOUR": "100000",
            "LOGIN_RATE_LIMIT_PER_IP": "100000",
            "CREDENTIAL_GUESS_LIMIT_PER_IP": "100000",
            **environment,
        }
    )
    log_path = workdir / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "backend.server", "--host", "127.0.0.1", "--port", str(port)],
            cwd=workdir,  # no .env of the checkout is read
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 300  # a loaded CI machine imports slowly
            while True:
                assert process.poll() is None, log_path.read_text()
                try:
                    if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.3)
            yield base
        finally:
            stop_process(process, timeout=20)
