from __future__ import annotations

from pydantic import BaseModel, Field


class HealthRead(BaseModel):
    status: str
    version: str
    environment: str


class ReadinessCheck(BaseModel):
    ok: bool
    detail: str
    # False: reported, but a failure leaves the instance ready ("degraded").
    required: bool = True


class ReadinessRead(BaseModel):
    status: str = Field(
        description="ready, degraded (a check that is not required failed) or not_ready (503)"
    )
    checks: dict[str, ReadinessCheck]
    live_workers: int | None = Field(
        default=None, description="Job workers with a recent heartbeat; null when the database is unreachable"
    )
