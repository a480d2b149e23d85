from __future__ import annotations

from pydantic import BaseModel


class HealthRead(BaseModel):
    status: str
    version: str
    environment: str


class ReadinessCheck(BaseModel):
    ok: bool
    detail: str


class ReadinessRead(BaseModel):
    status: str
    checks: dict[str, ReadinessCheck]
