"""What every connector type provides, and the registry ``GET /api/v1/connectors`` lists.

A connector type has a config model (non-secret settings, stored as JSON) and an
optional credentials model (secrets, stored encrypted); both publish a JSON schema so a
web app can render the form. ``sync`` reads records after the stored cursor and returns
metric points plus the new cursor; the service writes points and cursor in one
transaction, so a sync is all-or-nothing and a re-run writes the same points again
(idempotent upsert by metric, timestamp and dimensions). A sync that recomputes whole
periods says so (``SyncOutcome.replaces``): the source's old points there are removed first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from backend.config import ConnectorSettings
from backend.services.connectors.http import ConnectorHttp
from backend.services.metrics.points import Point

ProgressCallback = Callable[[float, str], Awaitable[None]]  # JobRun.progress: (fraction done, message)


class ConfigModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass
class SyncContext:
    config: Any  # the connector's validated config model
    credentials: Any  # the connector's validated credentials model, or None
    http: ConnectorHttp
    zone: ZoneInfo  # the tenant's time zone: dates without an offset are read in it
    settings: ConnectorSettings
    progress: ProgressCallback

    async def report(self, percent: int, message: str) -> None:
        await self.progress(percent / 100, message)


@dataclass(frozen=True)
class Replacement:
    """This source's points of ``metrics`` in ``[start, end)`` are replaced whole by the sync's
    points: what the sync no longer finds there (a deleted order, a channel left empty) goes."""

    metrics: tuple[str, ...]
    start: datetime
    end: datetime


@dataclass
class SyncOutcome:
    points: list[Point]
    cursor: dict[str, Any]
    records_read: int
    notes: list[str] = field(default_factory=list)
    replaces: list[Replacement] = field(default_factory=list)


@dataclass(frozen=True)
class Check:
    """One step of ``POST /data-sources/{id}/test``."""

    name: str
    ok: bool
    detail: str


class ConnectorType:
    name: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str]
    config_model: ClassVar[type[ConfigModel]]
    credentials_model: ClassVar[type[ConfigModel] | None] = None
    # False for types that receive data by upload instead of pulling it.
    syncs: ClassVar[bool] = True

    async def test(self, context: SyncContext) -> list[Check]:
        raise NotImplementedError

    async def sync(self, context: SyncContext, cursor: dict[str, Any]) -> SyncOutcome:
        raise NotImplementedError
