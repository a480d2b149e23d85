"""Each process verifies a token's signature once; the expiry and the key still count every time."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from backend.config import AuthSettings
from backend.utils.security import InvalidToken, create_access_token, decode_access_token

KEY = "token-cache-test-key-0123456789-abcdefghij"


def _token(settings: AuthSettings, *, issued: datetime | None = None) -> str:
    token, _ = create_access_token(
        settings,
        user_id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        role="owner",
        session_id=uuid.uuid4(),
        token_version=3,
        now=issued,
    )
    return token


def test_a_verified_token_reads_the_same_claims_again() -> None:
    settings = AuthSettings(secret_key=SecretStr(KEY))
    token = _token(settings)
    first = decode_access_token(settings, token)
    assert decode_access_token(settings, token) == first
    assert first.token_version == 3 and first.role == "owner"


def test_a_token_verified_under_one_key_is_refused_under_another() -> None:
    settings = AuthSettings(secret_key=SecretStr(KEY))
    token = _token(settings)
    decode_access_token(settings, token)
    other = AuthSettings(secret_key=SecretStr(KEY + "-rotated"))
    with pytest.raises(InvalidToken):
        decode_access_token(other, token)
    wrong_audience = AuthSettings(secret_key=SecretStr(KEY), audience="another-api")
    with pytest.raises(InvalidToken):
        decode_access_token(wrong_audience, token)


async def test_a_verified_token_stops_counting_when_it_expires() -> None:
    settings = AuthSettings(secret_key=SecretStr(KEY), access_token_minutes=1)
    # Issued so that it expires within the next few seconds.
    issued = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=55)
    token = _token(settings, issued=issued)
    claims = decode_access_token(settings, token)
    await asyncio.sleep((claims.expires_at - datetime.now(UTC)).total_seconds() + 0.05)
    assert datetime.now(UTC) > claims.expires_at
    with pytest.raises(InvalidToken, match="expired"):
        decode_access_token(settings, token)
