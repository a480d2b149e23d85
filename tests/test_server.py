"""The launcher (``python -m backend.server``): the server's proxy-header trust follows the settings."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from backend.config import Settings
from backend.server import uvicorn_options
from backend.utils.database_urls import DatabaseUrls
from tests.live_server import live_server

LOGINS_PER_IP = 2


pytestmark = pytest.mark.live


@pytest.fixture
def server(database_urls: DatabaseUrls, tmp_path: Path) -> Iterator[str]:
    """The API served by the launcher on loopback, with TRUST_FORWARDED_FOR=false (and a secret key
    of its own: its rate-limit rows never meet those of other tests)."""
    with live_server(
        database_urls, tmp_path, TRUST_FORWARDED_FOR="false", LOGIN_RATE_LIMIT_PER_IP=str(LOGINS_PER_IP)
    ) as base:
        yield base


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
