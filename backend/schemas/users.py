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
    activation_token: str | None = Field(description="Returned outside production only.")
    activation_expires_at: datetime
