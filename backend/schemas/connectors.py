from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, JsonValue

from backend.schemas.common import ReadModel


class ConnectorTypeRead(ReadModel):
    name: str = Field(examples=["stripe"])
    title: str
    description: str
    syncs: bool = Field(description="False for types that receive uploads instead of pulling data.")
    config_schema: dict[str, JsonValue] = Field(description="JSON schema of `config`.")
    credentials_schema: dict[str, JsonValue] | None = Field(
        description="JSON schema of `credentials` (stored encrypted)."
    )


class DataSourceCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100, examples=["Stripe (main account)"])
    connector_type: str = Field(max_length=50, examples=["stripe"])
    config: dict[str, JsonValue] = Field(
        default_factory=dict, description="Per the connector's config_schema."
    )
    credentials: dict[str, JsonValue] | None = Field(
        default=None, description="Per the connector's credentials_schema; stored encrypted, never returned."
    )
    schedule: str | None = Field(
        default=None,
        max_length=100,
        description="'hourly', 'daily' or a cron expression; null: manual syncs only.",
    )


class DataSourceUpdate(BaseModel):
    """Only the fields sent change. `credentials` replaces the stored set; `null` removes it."""

    name: str | None = Field(default=None, min_length=1, max_length=100)
    config: dict[str, JsonValue] | None = None
    credentials: dict[str, JsonValue] | None = None
    schedule: str | None = Field(default=None, max_length=100)
    status: Literal["active", "paused"] | None = None


class DataSourceRead(ReadModel):
    id: uuid.UUID
    name: str
    connector_type: str
    config: dict[str, JsonValue]
    credentials: dict[str, str] = Field(description="Credential fields that are set, values masked.")
    schedule: str | None
    status: str
    sync_cursor: dict[str, JsonValue] = Field(description="Where the next incremental sync starts.")
    last_synced_at: datetime | None
    next_sync_at: datetime | None
    created_at: datetime
    updated_at: datetime


class CheckRead(BaseModel):
    name: str
    ok: bool
    detail: str


class DataSourceTestRead(BaseModel):
    ok: bool
    checks: list[CheckRead]
    error: dict[str, JsonValue] | None = Field(description="`{code, message, details}` of what failed.")


class SyncRead(ReadModel):
    id: uuid.UUID
    data_source_id: uuid.UUID
    job_id: uuid.UUID | None = Field(description="Poll GET /api/v1/jobs/{job_id} for progress.")
    trigger: Literal["manual", "schedule", "upload"]
    status: Literal["queued", "running", "succeeded", "failed"]
    attempts: int
    records_read: int
    points_written: int = Field(description="Points inserted or changed (unchanged re-reads not counted).")
    cursor_before: dict[str, JsonValue]
    cursor_after: dict[str, JsonValue] | None
    error: dict[str, JsonValue] | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
