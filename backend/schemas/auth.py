from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, EmailStr, Field

from backend.models import Role
from backend.schemas.common import ReadModel


class LoginRequest(BaseModel):
    email: EmailStr
    password: str = Field(min_length=1, max_length=256)
    tenant_id: uuid.UUID | None = Field(
        default=None,
        description="The tenant to sign in to. Needed only when your email belongs to users of "
        "several tenants (without it, the newest of them is tried).",
    )


class PasswordChange(BaseModel):
    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(max_length=256)


class RefreshRequest(BaseModel):
    refresh_token: str = Field(min_length=10, max_length=200)


class ActivateRequest(BaseModel):
    token: str = Field(min_length=10, max_length=200, description="The one-time activation token.")
    password: str = Field(max_length=256, description="The new password.")


class PasswordResetRequest(BaseModel):
    email: EmailStr
    tenant_id: uuid.UUID | None = Field(
        default=None,
        description="The tenant whose account to reset, when your email belongs to users of several "
        "(without it, the one sign-in picks).",
    )


class PasswordResetAccepted(BaseModel):
    message: str = Field(
        default="If an account uses this email, a link to reset its password is on its way.",
        description="The same answer whether or not an account uses the email.",
    )


class PasswordResetConfirm(BaseModel):
    token: str = Field(min_length=10, max_length=200, description="The token from the reset link.")
    password: str = Field(max_length=256, description="The new password.")


class TokenResponse(BaseModel):
    """OAuth2-compatible token response (Swagger's Authorize button reads ``access_token``)."""

    access_token: str
    token_type: str = "bearer"  # noqa: S105 - OAuth2 token type, not a secret
    expires_in: int = Field(description="Seconds until the access token expires.")
    refresh_token: str
    refresh_expires_at: datetime


class MeResponse(ReadModel):
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    email: str
    full_name: str | None
    role: Role
    via_api_key: bool = Field(description="True when the caller authenticated with an API key.")
