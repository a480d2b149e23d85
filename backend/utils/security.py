"""Passwords, access tokens and opaque secrets.

The JWT library (python-jose) is used only here, so it can be swapped without touching
callers. Access tokens are short-lived and carry ``type``, ``iss``, ``aud``, ``exp``,
``sub``, ``tenant``, ``role``, ``sid`` (the sign-in's refresh family) and ``tv`` (the user's
token version); all are checked on decode, and ``sid``/``tv`` against the database on use.
Refresh tokens, activation tokens and API keys are random opaque strings stored only as
SHA-256 hashes (they carry ~256 bits of entropy, so a fast hash is the right tool;
passwords get argon2).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from jose import JWTError, jwt
from pwdlib import PasswordHash

from backend.config import AuthSettings

ACCESS_TOKEN_TYPE = "access"  # noqa: S105 - a claim value, not a secret
# A browser EventSource cannot send headers: it opens the coach stream with this short-lived
# ticket in the URL instead of the access token (see backend/routes/coach_stream.py).
STREAM_TICKET_TYPE = "coach_stream_ticket"
API_KEY_PREFIX = "dyo_"

_password_hash = PasswordHash.recommended()
# A decoy, on purpose: verifying against it keeps "unknown email" as slow as "wrong password".
_DECOY_PASSWORD_HASH = _password_hash.hash(secrets.token_urlsafe(16))


class InvalidToken(Exception):
    """The token is malformed, forged, expired or of the wrong kind."""


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    role: str
    session_id: uuid.UUID
    token_version: int
    expires_at: datetime


def hash_password(password: str) -> str:
    return _password_hash.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """Constant-work check: an absent hash still costs one argon2 verification."""
    if password_hash is None:
        _password_hash.verify(password, _DECOY_PASSWORD_HASH)
        return False
    return _password_hash.verify(password, password_hash)


def create_access_token(
    settings: AuthSettings,
    *,
    user_id: uuid.UUID,
    tenant_id: uuid.UUID,
    role: str,
    session_id: uuid.UUID,
    token_version: int,
    now: datetime | None = None,
    token_type: str = ACCESS_TOKEN_TYPE,
    lifetime: timedelta | None = None,
) -> tuple[str, datetime]:
    """A signed token: an access token, or (``token_type``/``lifetime``) a coach stream ticket."""
    issued = now or datetime.now(UTC)
    expires = issued + (lifetime or timedelta(minutes=settings.access_token_minutes))
    claims = {
        "sub": str(user_id),
        "tenant": str(tenant_id),
        "role": role,
        "sid": str(session_id),
        "tv": token_version,
        "iat": int(issued.timestamp()),
        "jti": secrets.token_hex(8),
    }
    return sign_token(settings, token_type, claims, expires), expires


def sign_token(
    settings: AuthSettings, token_type: str, claims: Mapping[str, object], expires: datetime
) -> str:
    """A JWT of ``token_type`` from this issuer to this audience with ``claims``, valid until ``expires``."""
    signed = {
        "type": token_type,
        "iss": settings.issuer,
        "aud": settings.audience,
        **claims,
        "exp": int(expires.timestamp()),
    }
    return str(jwt.encode(signed, settings.secret_key.get_secret_value(), algorithm=settings.algorithm))


def verify_token(settings: AuthSettings, token: str, token_type: str) -> dict[str, Any]:
    """The claims of ``token``: signed with the configured key and algorithm, by this issuer for this
    audience, not expired, and of ``token_type``; ``JWTError`` otherwise."""
    claims: dict[str, Any] = jwt.decode(
        token,
        settings.secret_key.get_secret_value(),
        algorithms=[settings.algorithm],
        audience=settings.audience,
        issuer=settings.issuer,
        options={"require_exp": True, "require_sub": True, "require_aud": True, "require_iss": True},
    )
    if claims.get("type") != token_type:
        raise JWTError(f"not a token of type {token_type}")
    return claims


# Tokens this process verified, newest last: (token, type, key, algorithm, issuer, audience) -> claims.
_VERIFIED: OrderedDict[tuple[str, str, str, str, str, str], AccessClaims] = OrderedDict()
VERIFIED_TOKENS_KEPT = 4096


def decode_access_token(
    settings: AuthSettings, token: str, *, token_type: str = ACCESS_TOKEN_TYPE
) -> AccessClaims:
    """Verify signature (only the configured algorithm), issuer, audience, expiry and type.

    A token of another type (a stream ticket where an access token is expected, or the
    reverse) is invalid: each is accepted only where it is meant to be used.

    A token's claims never change, so each process checks a token's signature once (a
    millisecond of python-jose on a busy core, on every request) and keeps its claims in a
    bounded LRU keyed by the token and the type asked for; the expiry is checked again on
    every use. Whether the token still counts (user active, sign-in live, token version) is
    the database's answer on every request.
    """
    key = (
        token,
        token_type,
        settings.secret_key.get_secret_value(),
        settings.algorithm,
        settings.issuer,
        settings.audience,
    )
    claims = _VERIFIED.get(key)
    if claims is None:
        claims = _verify_access_token(settings, token, token_type)
        _VERIFIED[key] = claims
        if len(_VERIFIED) > VERIFIED_TOKENS_KEPT:
            _VERIFIED.popitem(last=False)
    else:
        _VERIFIED.move_to_end(key)
    if claims.expires_at <= datetime.now(UTC):
        _VERIFIED.pop(key, None)
        raise InvalidToken("Signature has expired.")
    return claims


def _verify_access_token(settings: AuthSettings, token: str, token_type: str) -> AccessClaims:
    try:
        header = jwt.get_unverified_header(token)
        if header.get("alg") != settings.algorithm:
            raise InvalidToken("unexpected signing algorithm")
        claims = verify_token(settings, token, token_type)
    except JWTError as error:
        raise InvalidToken(str(error)) from error
    try:
        return AccessClaims(
            user_id=uuid.UUID(claims["sub"]),
            tenant_id=uuid.UUID(claims["tenant"]),
            role=str(claims["role"]),
            session_id=uuid.UUID(claims["sid"]),
            token_version=_strict_int(claims["tv"]),
            expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
        )
    except (KeyError, ValueError, TypeError, AttributeError) as error:
        raise InvalidToken("malformed claims") from error


def _strict_int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError("not an integer")
    return value


def new_opaque_token() -> str:
    """A URL-safe random secret (refresh and activation tokens)."""
    return secrets.token_urlsafe(32)


def new_api_key() -> tuple[str, str]:
    """A fresh API key and its short display prefix. The key is shown to its owner once."""
    secret = secrets.token_urlsafe(32)
    key = f"{API_KEY_PREFIX}{secret}"
    return key, key[: len(API_KEY_PREFIX) + 6]


def hash_secret(secret: str) -> str:
    """SHA-256 hex of a high-entropy secret, for storage and lookup."""
    return hashlib.sha256(secret.encode()).hexdigest()


def hash_rate_limit_key(key: str, secret_key: str) -> str:
    """Keyed hash so rate-limit rows never hold a raw email or IP address."""
    return hmac.new(secret_key.encode(), key.encode(), hashlib.sha256).hexdigest()
