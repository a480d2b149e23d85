from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from zoneinfo import available_timezones

from pydantic import BaseModel, EmailStr, Field, field_validator

from backend.schemas.auth import TokenResponse
from backend.schemas.common import ReadModel
from backend.schemas.exchange_rates import CurrencyCode
from backend.schemas.users import UserRead

_TIMEZONES = available_timezones()


def _valid_timezone(value: str | None) -> str | None:
    if value is not None and value not in _TIMEZONES:
        raise ValueError(f"unknown time zone {value!r} (use an IANA name such as 'America/New_York')")
    return value


class TenantCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200, examples=["Acme Corp"])
    owner_email: EmailStr = Field(examples=["owner@acme.com"])
    owner_password: str | None = Field(
        default=None,
        max_length=256,
        description="Optional: activates the owner at once and returns tokens. "
        "Without it, the owner activates with the one-time token.",
    )
    owner_name: str | None = Field(default=None, max_length=200)


class TenantRead(ReadModel):
    id: uuid.UUID
    name: str
    industry: str | None
    timezone: str
    currency: str
    reporting_currency: str | None = Field(
        description="Money rollups read converted into it; null: each metric in its own currency."
    )
    created_at: datetime
    updated_at: datetime


class TenantUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    industry: str | None = Field(default=None, max_length=100)
    timezone: str | None = Field(default=None, description="IANA time zone for calendar rollups.")
    currency: CurrencyCode | None = None
    reporting_currency: CurrencyCode | None = Field(
        default=None,
        description="Read money rollups converted into this currency with the tenant's exchange "
        "rates (flagged as converted). Send null to read each metric in its own currency.",
    )

    _check_timezone = field_validator("timezone")(_valid_timezone)

    def changes(self) -> dict[str, Any]:
        """The fields sent; null clears only what may be empty (the reporting currency)."""
        sent = self.model_dump(exclude_unset=True)
        return {field: value for field, value in sent.items() if value is not None or field in _CLEARABLE}


_CLEARABLE = frozenset({"reporting_currency"})


class ActivationRead(BaseModel):
    token: str | None = Field(
        description="Returned only outside production when no mail transport is configured; "
        "otherwise the activation link is emailed to the owner."
    )
    expires_at: datetime
    emailed: bool = Field(default=False, description="True when the activation link is being emailed.")
    activate_url: str = "/api/v1/auth/activate"


class TenantCreated(BaseModel):
    tenant: TenantRead
    owner: UserRead
    activation: ActivationRead | None = Field(description="Present when no owner_password was given.")
    tokens: TokenResponse | None = Field(description="Present when owner_password was given.")
