"""Data sources: configure, test, sync on demand or on a schedule, upload files.

Credentials are validated against the connector's model, encrypted (AES-GCM, bound to the
tenant and source) and never returned or logged: reads show which fields are set, masked.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import Settings
from backend.models import ConnectorSync, DataSource
from backend.services.connectors import repository
from backend.services.connectors.base import Check, ConnectorType, SyncContext
from backend.services.connectors.crypto import CredentialCipher, CredentialKeyError
from backend.services.connectors.http import ConnectorError, ConnectorHttp
from backend.services.connectors.registry import connector_types
from backend.services.connectors.schedule import next_run, schedule_problem
from backend.services.errors import Conflict, NotFound, Problem, ValidationFailed
from backend.services.queue import JobAlreadyQueued, JobKind
from backend.services.workload import queue
from backend.utils.database import session_tenant
from backend.utils.repository import PageWindow, delete_row


class SyncPayload(BaseModel):
    """The payload of a sync job: the source and the sync run recorded for it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source_id: uuid.UUID
    sync_id: uuid.UUID


# A sync is always a job: it waits on a remote API for as long as the source takes. Syncs of one
# source never overlap: the lock (one running) and queueing lock (one waiting) are the source id.
SYNC_JOB = JobKind(
    "connectors.sync",
    SyncPayload,
    queue="connectors",
    lock=lambda payload: f"data_source:{payload.source_id}",
    max_attempts_from_settings=lambda settings: settings.connectors.sync_max_attempts,
)
MASK = "********"


@dataclass(frozen=True)
class TestResult:
    ok: bool
    checks: list[Check]
    error: dict[str, Any] | None


def points_source(source_id: uuid.UUID) -> str:
    """The ``source`` recorded on metric points a data source writes."""
    return f"data_source:{source_id}"


def connector_for(name: str) -> ConnectorType:
    connector = connector_types().get(name)
    if connector is None:
        raise ValidationFailed(
            f"unknown connector type {name!r}",
            context={"connector_type": name, "known": sorted(connector_types())},
        )
    return connector


def _validated(model: type[BaseModel], data: dict[str, Any], field: str) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        problems = Problem.from_pydantic(
            error.errors(include_url=False, include_input=False), prefix=["body", field]
        )
        raise ValidationFailed(f"invalid {field}", problems=problems) from None


def _check_credentials(connector: ConnectorType, credentials: dict[str, Any] | None) -> dict[str, Any] | None:
    if connector.credentials_model is None:
        if credentials:
            raise ValidationFailed(f"connector {connector.name!r} takes no credentials")
        return None
    validated = _validated(connector.credentials_model, credentials or {}, "credentials")
    return validated.model_dump(exclude_none=True)


def _check_schedule(connector: ConnectorType, schedule: str | None) -> None:
    if schedule is None:
        return
    if not connector.syncs:
        raise ValidationFailed(f"connector {connector.name!r} receives uploads and takes no schedule")
    problem = schedule_problem(schedule)
    if problem:
        raise ValidationFailed(problem, context={"schedule": schedule})


async def _zone(session: AsyncSession) -> ZoneInfo:
    return ZoneInfo(await repository.tenant_timezone(session))


async def schedule_next_sync(session: AsyncSession, source: DataSource) -> None:
    if source.schedule is None or source.status != "active":
        source.next_sync_at = None
    else:
        source.next_sync_at = next_run(
            source.schedule, source.id, after=datetime.now(UTC), zone=await _zone(session)
        )


def masked_credentials(source: DataSource, cipher: CredentialCipher) -> dict[str, str]:
    """Which credential fields are set, with every value masked."""
    if source.credentials_encrypted is None:
        return {}
    try:
        stored = cipher.decrypt(source.credentials_encrypted, tenant_id=source.tenant_id, source_id=source.id)
    except CredentialKeyError:
        return {"error": "stored credentials cannot be decrypted with the configured keys"}
    return dict.fromkeys(sorted(stored), MASK)


async def create_source(
    session: AsyncSession,
    settings: Settings,
    *,
    name: str,
    connector_type: str,
    config: dict[str, Any],
    credentials: dict[str, Any] | None,
    schedule: str | None,
) -> DataSource:
    connector = connector_for(connector_type)
    valid_config = _validated(connector.config_model, config, "config").model_dump(mode="json")
    secret = _check_credentials(connector, credentials)
    _check_schedule(connector, schedule)
    if await repository.source_by_name(session, name) is not None:
        raise Conflict(f"a data source named {name!r} already exists", context={"name": name})
    source = DataSource(
        id=uuid.uuid4(),
        tenant_id=session_tenant(session),
        name=name,
        connector_type=connector_type,
        config=valid_config,
        schedule=schedule,
        status="active",
        sync_cursor={},
    )
    if secret is not None:
        source.credentials_encrypted = CredentialCipher.from_settings(settings).encrypt(
            secret, tenant_id=source.tenant_id, source_id=source.id
        )
    await schedule_next_sync(session, source)
    session.add(source)
    await session.flush()
    return source


async def get_source(session: AsyncSession, source_id: uuid.UUID, *, for_update: bool = False) -> DataSource:
    source = await repository.source_by_id(session, source_id, for_update=for_update)
    if source is None:
        raise NotFound("Data source not found", context={"data_source_id": str(source_id)})
    return source


# Listing has no rule of its own: the repository's page is the answer.
list_sources = repository.list_sources


async def update_source(
    session: AsyncSession, settings: Settings, source_id: uuid.UUID, changes: dict[str, Any]
) -> DataSource:
    """Apply the fields present in ``changes``; a new ``config`` resets the sync cursor (new data)."""
    source = await get_source(session, source_id, for_update=True)
    connector = connector_for(source.connector_type)
    if "name" in changes and changes["name"] != source.name:
        if await repository.source_by_name(session, changes["name"]) is not None:
            raise Conflict(f"a data source named {changes['name']!r} already exists")
        source.name = changes["name"]
    if "config" in changes:
        config = _validated(connector.config_model, changes["config"], "config").model_dump(mode="json")
        if config != source.config:
            source.config = config
            source.sync_cursor = {}
    if "credentials" in changes:
        secret = _check_credentials(connector, changes["credentials"])
        source.credentials_encrypted = (
            CredentialCipher.from_settings(settings).encrypt(
                secret, tenant_id=source.tenant_id, source_id=source.id
            )
            if secret is not None
            else None
        )
    if "schedule" in changes:
        _check_schedule(connector, changes["schedule"])
        source.schedule = changes["schedule"]
    if "status" in changes:
        source.status = changes["status"]
    await schedule_next_sync(session, source)
    await session.flush()
    await session.refresh(source)  # updated_at is set by the database
    return source


async def delete_source(session: AsyncSession, source_id: uuid.UUID) -> None:
    """Deletes the source and its sync history; metric points it wrote stay (they are the tenant's data)."""
    await delete_row(session, await get_source(session, source_id))


async def sync_context(
    source: DataSource, settings: Settings, http: ConnectorHttp, zone: ZoneInfo, progress: Any
) -> SyncContext:
    connector = connector_for(source.connector_type)
    credentials = None
    if connector.credentials_model is not None:
        if source.credentials_encrypted is None:
            raise ConnectorError(
                "the data source has no credentials; add them first", code="missing_credentials"
            )
        try:
            raw = CredentialCipher.from_settings(settings).decrypt(
                source.credentials_encrypted, tenant_id=source.tenant_id, source_id=source.id
            )
        except CredentialKeyError as error:
            raise ConnectorError(str(error), code="credentials_unreadable") from error
        credentials = connector.credentials_model.model_validate(raw)
    config = connector.config_model.model_validate(source.config)
    return SyncContext(config, credentials, http, zone, settings.connectors, progress)


async def _ignore_progress(percent: int, message: str) -> None:
    return None


async def test_source(session: AsyncSession, settings: Settings, source_id: uuid.UUID) -> TestResult:
    source = await get_source(session, source_id)
    connector = connector_for(source.connector_type)
    zone = await _zone(session)
    async with ConnectorHttp(settings.connectors) as http:
        try:
            context = await sync_context(source, settings, http, zone, _ignore_progress)
            checks = await connector.test(context)
        except ConnectorError as error:
            return TestResult(False, [Check(error.code, False, error.message)], error.as_error())
    return TestResult(all(check.ok for check in checks), checks, None)


async def request_sync(
    session: AsyncSession, source_id: uuid.UUID, *, trigger: str, requested_by: uuid.UUID | None
) -> ConnectorSync:
    """Queue a sync job (one waiting per source: a second request while one waits is a conflict)."""
    source = await get_source(session, source_id)
    if not connector_for(source.connector_type).syncs:
        raise ValidationFailed(
            f"{source.connector_type!r} sources receive data by upload: "
            f"POST /api/v1/data-sources/{source_id}/upload"
        )
    sync_id = uuid.uuid4()
    try:
        queued = await queue(
            session,
            SYNC_JOB,
            SyncPayload(source_id=source.id, sync_id=sync_id),
            reason="sync",
            requested_by=requested_by,
        )
    except JobAlreadyQueued as error:
        raise Conflict(
            "a sync of this data source is already waiting to run", context={"data_source_id": str(source_id)}
        ) from error
    sync = ConnectorSync(
        id=sync_id,
        tenant_id=source.tenant_id,
        data_source_id=source.id,
        job_id=queued.job_id,
        trigger=trigger,
        status="queued",
        cursor_before=dict(source.sync_cursor),
    )
    session.add(sync)
    await session.flush()
    return sync


async def list_syncs(
    session: AsyncSession, source_id: uuid.UUID, window: PageWindow
) -> tuple[list[ConnectorSync], int]:
    await get_source(session, source_id)
    return await repository.list_syncs(session, source_id, window)
