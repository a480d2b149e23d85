"""Credentials: encrypted at rest (the raw column never holds the secret), bound to their row, rotatable."""

from __future__ import annotations

import uuid

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.config import Settings
from backend.services.connectors.crypto import CredentialCipher, CredentialKeyError, new_key, parse_keys
from tests.factories import create_tenant
from tests.services.connectors.support import create_source

SECRET = "sk_live_very_secret_value_9f8e7d"


async def test_raw_column_never_holds_the_secret_and_the_api_masks_it(
    api: httpx.AsyncClient, app_engine: AsyncEngine
) -> None:
    tenant = await create_tenant(api)
    source = await create_source(
        api, tenant.headers, connector_type="stripe", config={}, credentials={"secret_key": SECRET}
    )
    assert source["credentials"] == {"secret_key": "********"}
    listed = await api.get("/api/v1/data-sources", headers=tenant.headers)
    fetched = await api.get(f"/api/v1/data-sources/{source['id']}", headers=tenant.headers)
    assert SECRET not in listed.text and SECRET not in fetched.text
    async with app_engine.begin() as connection:
        await connection.execute(
            text("select set_config('app.tenant_id', :t, true)"), {"t": str(tenant.tenant_id)}
        )
        raw = await connection.scalar(
            text("select credentials_encrypted from data_sources where id = :id"), {"id": source["id"]}
        )
        as_text = await connection.scalar(
            text("select row_to_json(d)::text from data_sources d where id = :id"), {"id": source["id"]}
        )
    assert raw is not None and SECRET.encode() not in bytes(raw)
    assert SECRET not in as_text


def test_ciphertext_is_bound_to_its_tenant_and_source() -> None:
    cipher = CredentialCipher(parse_keys(new_key()))
    tenant, source = uuid.uuid4(), uuid.uuid4()
    blob = cipher.encrypt({"secret_key": SECRET}, tenant_id=tenant, source_id=source)
    assert cipher.decrypt(blob, tenant_id=tenant, source_id=source) == {"secret_key": SECRET}
    with pytest.raises(CredentialKeyError):
        cipher.decrypt(blob, tenant_id=uuid.uuid4(), source_id=source)
    with pytest.raises(CredentialKeyError):
        cipher.decrypt(blob[:-1] + bytes([blob[-1] ^ 1]), tenant_id=tenant, source_id=source)


def test_key_rotation_keeps_old_blobs_readable_and_encrypts_with_the_new_key() -> None:
    old, new = new_key(), new_key()
    tenant, source = uuid.uuid4(), uuid.uuid4()
    before = CredentialCipher(parse_keys(old)).encrypt({"token": "t"}, tenant_id=tenant, source_id=source)
    rotated = CredentialCipher(parse_keys(f"{new},{old}"))
    assert rotated.decrypt(before, tenant_id=tenant, source_id=source) == {"token": "t"}
    assert rotated.needs_reencryption(before)
    after = rotated.encrypt({"token": "t"}, tenant_id=tenant, source_id=source)
    assert not rotated.needs_reencryption(after)
    with pytest.raises(CredentialKeyError, match="no longer configured"):
        CredentialCipher(parse_keys(new)).decrypt(before, tenant_id=tenant, source_id=source)


def test_production_refuses_to_start_without_connector_keys(settings: Settings) -> None:
    database = settings.database
    with pytest.raises(ValueError, match="CONNECTOR_ENCRYPTION_KEYS"):
        Settings(environment="production", auth={"secret_key": "s" * 40}, database=database)
    configured = Settings(
        environment="production",
        auth={"secret_key": "s" * 40},
        database=database,
        connectors={"encryption_keys": SecretStr(new_key())},
    )
    assert configured.connectors.encryption_keys is not None


def test_malformed_keys_are_rejected() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        parse_keys("c2hvcnQ=")
