from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from backend.models import Role
from backend.schemas.common import ReadModel


class ApiKeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100, examples=["nightly-import"])
    role: Role = Field(default=Role.ANALYST, description="The key acts with this role (at most your own).")
    expires_in_days: int | None = Field(default=None, ge=1, le=730)


class ApiKeyRead(ReadModel):
    id: uuid.UUID
    name: str
    prefix: str = Field(description="First characters of the key, to recognise it.")
    role: Role
    created_by: uuid.UUID
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="The secret key. Shown only in this response; store it now.")
