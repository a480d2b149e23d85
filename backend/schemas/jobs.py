from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from backend.schemas.common import ReadModel

JobStatus = Literal["queued", "running", "succeeded", "failed"]


class JobRead(ReadModel):
    """A background job's status; poll it until ``status`` is ``succeeded`` or ``failed``."""

    id: uuid.UUID
    kind: str = Field(examples=["connectors.sync"])
    status: JobStatus
    progress: int = Field(ge=0, le=100, description="Percent done, as reported by the job.")
    message: str | None = Field(description="What the job is doing now (or why it is being retried).")
    result: dict[str, Any] | None = Field(description="The job's JSON result once it succeeded.")
    error: dict[str, Any] | None = Field(
        description="`{code, message, details}` of the last failed attempt (kept while a retry is queued)."
    )
    attempts: int
    parent_id: uuid.UUID | None = Field(
        description="The job that queued this one (a batch's job, for each of its series); its progress "
        "is the share of its child jobs finished, and it completes with the last of them."
    )
    created_by: uuid.UUID | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class JobAccepted(BaseModel):
    """A request that became a background job (HTTP 202); poll ``status_url``."""

    job_id: uuid.UUID
    status_url: str
    reason: str = Field(
        description="Why it runs in the background (requested, or beyond the synchronous limit)."
    )
