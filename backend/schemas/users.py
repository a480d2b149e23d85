from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, EmailStr, Field

from backend.models import Role
from backend.schemas.common import ReadModel


class UserRead(ReadModel):
    id: uuid.UUID
    email: str
    full_name: str | None
    role: Role
    is_active: bool
    activated_at: datetime | None
    last_login_at: datetime | None
    created_at: datetime


class UserCreate(BaseModel):
    email: EmailStr
    role: Role = Role.VIEWER
    full_name: str | None = Field(default=None, max_length=200)


class UserUpdate(BaseModel):
    role: Role | None = None
    full_name: str | None = Field(default=None, max_length=200)


class UserInvited(BaseModel):
    user: UserRead
    activation_token: str | None = Field(
        description="Returned only outside production when no mail transport is configured; "
        "otherwise the invitation email carries it."
    )
    activation_expires_at: datetime
    invitation_email_job_id: uuid.UUID | None = Field(
        default=None,
        description="The job emailing the invitation (GET /api/v1/jobs/{id} shows whether it was "
        "delivered or why not, e.g. recipient_refused); null without a mail transport.",
    )
