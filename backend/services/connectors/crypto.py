"""Connector credentials at rest: AES-256-GCM with key rotation.

Blob layout: ``b"dyo1" | key id (8 bytes) | nonce (12 bytes) | ciphertext+tag``. The key
id is the first 8 bytes of SHA-256 of the key, so decryption picks the right key after a
rotation (the first configured key encrypts; every configured key decrypts). The
associated data binds a blob to its tenant and data source: copied onto another row it
does not decrypt.

With no ``CONNECTOR_ENCRYPTION_KEYS`` (development only; production refuses to start) the
key is derived from ``SECRET_KEY`` with HKDF-SHA256 and a fixed, public label.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import uuid
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from backend.config import Settings
from backend.utils.redaction import register_secrets

MAGIC = b"dyo1"
KEY_ID_BYTES = 8
NONCE_BYTES = 12
DEVELOPMENT_KEY_LABEL = b"dyocense development connector credentials key (not for production)"


class CredentialKeyError(RuntimeError):
    """Stored credentials cannot be decrypted with the configured keys."""


def _key_id(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()[:KEY_ID_BYTES]


def parse_keys(raw: str) -> list[bytes]:
    keys = []
    for part in (piece.strip() for piece in raw.split(",")):
        if not part:
            continue
        try:
            key = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        except (binascii.Error, ValueError) as error:
            raise ValueError("CONNECTOR_ENCRYPTION_KEYS entries must be base64") from error
        if len(key) != 32:
            raise ValueError("CONNECTOR_ENCRYPTION_KEYS entries must decode to 32 bytes (AES-256)")
        keys.append(key)
    if not keys:
        raise ValueError("CONNECTOR_ENCRYPTION_KEYS is set but lists no key")
    return keys


def development_key(secret_key: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=DEVELOPMENT_KEY_LABEL).derive(
        secret_key.encode()
    )


def new_key() -> str:
    """A fresh key in the format CONNECTOR_ENCRYPTION_KEYS expects."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


class CredentialCipher:
    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise ValueError("at least one key is needed")
        self._encrypting = keys[0]
        self._by_id = {_key_id(key): key for key in keys}

    @classmethod
    def from_settings(cls, settings: Settings) -> CredentialCipher:
        configured = settings.connectors.encryption_keys
        if configured is not None:
            return cls(parse_keys(configured.get_secret_value()))
        return cls([development_key(settings.auth.secret_key.get_secret_value())])

    @staticmethod
    def _associated_data(tenant_id: uuid.UUID, source_id: uuid.UUID, purpose: bytes) -> bytes:
        return purpose + b":" + tenant_id.bytes + source_id.bytes

    def encrypt(
        self,
        credentials: dict[str, Any],
        *,
        tenant_id: uuid.UUID,
        source_id: uuid.UUID,
        purpose: bytes = b"data_source",
    ) -> bytes:
        """Seal ``credentials`` to the row ``source_id`` of ``tenant_id``; ``purpose`` names the table
        (a data source's blob does not open as an alert channel's of the same id)."""
        nonce = os.urandom(NONCE_BYTES)
        plaintext = json.dumps(credentials, separators=(",", ":")).encode()
        sealed = AESGCM(self._encrypting).encrypt(
            nonce, plaintext, self._associated_data(tenant_id, source_id, purpose)
        )
        return MAGIC + _key_id(self._encrypting) + nonce + sealed

    def decrypt(
        self, blob: bytes, *, tenant_id: uuid.UUID, source_id: uuid.UUID, purpose: bytes = b"data_source"
    ) -> dict[str, Any]:
        if not blob.startswith(MAGIC):
            raise CredentialKeyError("stored credentials are not in a known format")
        key_id = blob[len(MAGIC) : len(MAGIC) + KEY_ID_BYTES]
        nonce_start = len(MAGIC) + KEY_ID_BYTES
        nonce, sealed = blob[nonce_start : nonce_start + NONCE_BYTES], blob[nonce_start + NONCE_BYTES :]
        key = self._by_id.get(key_id)
        if key is None:
            raise CredentialKeyError(
                "stored credentials were encrypted with a key that is no longer configured "
                "(keep old keys in CONNECTOR_ENCRYPTION_KEYS after a rotation)"
            )
        try:
            plaintext = AESGCM(key).decrypt(
                nonce, sealed, self._associated_data(tenant_id, source_id, purpose)
            )
        except InvalidTag as error:
            raise CredentialKeyError("stored credentials failed authentication") from error
        loaded: dict[str, Any] = json.loads(plaintext)
        # Plaintext credentials exist from here on: no log line or stored error may show them.
        register_secrets(loaded)
        return loaded

    def needs_reencryption(self, blob: bytes) -> bool:
        return blob[len(MAGIC) : len(MAGIC) + KEY_ID_BYTES] != _key_id(self._encrypting)
