"""The launcher (``python -m backend.server``): the server's proxy-header trust follows the settings."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from backend.config import Settings
from backend.server import uvicorn_options
from backend.utils.database_urls import DatabaseUrls

REPO = Path(__file__).resolve().parent.parent
LOGINS_PER_IP = 2


pytestmark = pytest.mark.live


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def server(database_urls: DatabaseUrls, tmp_path: Path) -> Iterator[str]:
    """The API served by the launcher on loopback, with TRUST_FORWARDED_FOR=false."""
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if key != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(
        {
            "PYTHONPATH": str(REPO),
            "ENVIRONMENT": "test",
            # A key of its own: its rate-limit rows never meet those of other tests.
            "SECRET_KEY": secrets.token_urlsafe(48),
            "DATABASE_URL": database_urls.app,
            "DATABASE_OWNER_URL": database_urls.owner,
            "TRUST_FORWARDED_FOR": "false",
            "LOGIN_RATE_LIMIT_PER_IP": str(LOGINS_PER_IP),
            "LOG_LEVEL": "WARNING",
        }
    )
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "backend.server", "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path,  # no .env of the checkout is read
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.3)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def test_forwarded_for_does_not_change_the_limited_address_when_trust_is_off(server: str) -> None:
    codes = []
    with httpx.Client(base_url=server, timeout=30) as http:
        for attempt in range(LOGINS_PER_IP + 1):
            response = http.post(
                "/api/v1/auth/login",
                headers={"X-Forwarded-For": f"203.0.113.{attempt + 1}"},
                json={"email": f"nobody-{secrets.token_hex(6)}@example.com", "password": "wrong-password"},
            )
            codes.append(response.status_code)
    # Every request counted against 127.0.0.1, whatever address the header claimed.
    assert codes == [401] * LOGINS_PER_IP + [429]


def test_launcher_trusts_proxies_only_when_told_to() -> None:
    off = Settings(
        trust_forwarded_for=False, forwarded_allow_ips="*", auth={"secret_key": SecretStr("x" * 40)}
    )
    on = Settings(
        trust_forwarded_for=True, forwarded_allow_ips="10.0.0.0/8", auth={"secret_key": SecretStr("x" * 40)}
    )
    assert uvicorn_options(off) == {"proxy_headers": False}
    assert uvicorn_options(on) == {"proxy_headers": True, "forwarded_allow_ips": "10.0.0.0/8"}
