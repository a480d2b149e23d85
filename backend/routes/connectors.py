"""Connectors: the catalog of connector types and a tenant's data sources."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, File, Response, UploadFile, status
from fastapi.responses import JSONResponse

from backend.config import Settings
from backend.dependencies import (
    AdminPrincipal,
    AnalystPrincipal,
    AppSettings,
    CurrentPrincipal,
    PageParams,
    TenantSession,
)
from backend.models import DataSource
from backend.routes.jobs import job_accepted
from backend.schemas.common import Page
from backend.schemas.connectors import (
    CheckRead,
    ConnectorTypeRead,
    DataSourceCreate,
    DataSourceRead,
    DataSourceTestRead,
    DataSourceUpdate,
    SyncRead,
)
from backend.schemas.jobs import JobAccepted
from backend.services.connectors import service, uploads
from backend.services.connectors.crypto import CredentialCipher
from backend.services.connectors.registry import connector_types
from backend.services.metrics import upload_service
from backend.services.workload import Queued
from backend.utils.error_handlers import error_responses
from backend.utils.responses import NO_CONTENT

router = APIRouter(tags=["connectors"], responses=error_responses(401, 403, 422))


def _read(source: DataSource, settings: Settings) -> DataSourceRead:
    masked = service.masked_credentials(source, CredentialCipher.from_settings(settings))
    return DataSourceRead.model_validate(
        {
            **{c: getattr(source, c) for c in DataSourceRead.model_fields if c != "credentials"},
            "credentials": masked,
        }
    )


@router.get("/api/v1/connectors", summary="Connector types and their config schemas")
async def list_connectors(principal: CurrentPrincipal, page: PageParams) -> Page[ConnectorTypeRead]:
    """The connector types a data source can use (file, google_sheets, rest_json, stripe, shopify, postgres)
    with the JSON schemas of their `config` and `credentials`, and whether they sync on their own. Any
    role."""
    items = [
        ConnectorTypeRead.from_row(
            connector,
            config_schema=connector.config_model.model_json_schema(),
            credentials_schema=connector.credentials_model.model_json_schema()
            if connector.credentials_model
            else None,
        )
        for connector in sorted(connector_types().values(), key=lambda c: c.name)
    ]
    return Page.listing(items, page)


@router.post(
    "/api/v1/data-sources",
    status_code=status.HTTP_201_CREATED,
    summary="Configure a data source",
    responses=error_responses(409),
)
async def create_data_source(
    body: DataSourceCreate, session: TenantSession, principal: AdminPrincipal, settings: AppSettings
) -> DataSourceRead:
    """Admin or owner. Validates `config` and `credentials` against the connector type's schemas (422 lists
    each problem); credentials are stored encrypted and never returned (only masked). `schedule` (cron)
    makes the source sync by itself. 409 when a source of that name exists. Returns the source; check it
    with `POST /api/v1/data-sources/{source_id}/test`."""
    source = await service.create_source(
        session,
        settings,
        name=body.name,
        connector_type=body.connector_type,
        config=body.config,
        credentials=body.credentials,
        schedule=body.schedule,
    )
    return _read(source, settings)


@router.get("/api/v1/data-sources", summary="List data sources")
async def list_data_sources(
    session: TenantSession, principal: CurrentPrincipal, page: PageParams, settings: AppSettings
) -> Page[DataSourceRead]:
    """The tenant's data sources with their connector type, config, masked credentials, schedule, status and
    last and next sync times."""
    sources, total = await service.list_sources(session, window=page)
    return Page.of([_read(s, settings) for s in sources], total, page)


@router.get(
    "/api/v1/data-sources/{source_id}",
    summary="A data source",
    responses=error_responses(404),
)
async def get_data_source(
    source_id: uuid.UUID, session: TenantSession, principal: CurrentPrincipal, settings: AppSettings
) -> DataSourceRead:
    """One data source with its connector type, config, masked credentials, schedule, status, sync cursor
    and last and next sync times. 404 for an id that is not the tenant's."""
    return _read(await service.get_source(session, source_id), settings)


@router.patch(
    "/api/v1/data-sources/{source_id}",
    summary="Change a data source (a new config restarts incremental sync from scratch)",
    responses=error_responses(404, 409),
)
async def update_data_source(
    source_id: uuid.UUID,
    body: DataSourceUpdate,
    session: TenantSession,
    principal: AdminPrincipal,
    settings: AppSettings,
) -> DataSourceRead:
    """Admin or owner. Changes the fields sent; new credentials replace the stored ones (send them whole).
    409 when the new name is taken; 404 for an unknown id."""
    changes = body.model_dump(exclude_unset=True)
    source = await service.update_source(session, settings, source_id, changes)
    return _read(source, settings)


@router.delete(
    "/api/v1/data-sources/{source_id}",
    **NO_CONTENT,
    summary="Delete a data source and its sync history (metric points stay)",
    responses=error_responses(404),
)
async def delete_data_source(source_id: uuid.UUID, session: TenantSession, principal: AdminPrincipal) -> None:
    """Admin or owner. Removes the source, its schedule and sync history; the metric points it wrote stay.
    404 for an unknown id."""
    await service.delete_source(session, source_id)


@router.post(
    "/api/v1/data-sources/{source_id}/test",
    summary="Check credentials and reachability; says precisely what failed",
    responses=error_responses(404),
)
async def test_data_source(
    source_id: uuid.UUID, session: TenantSession, principal: AdminPrincipal, settings: AppSettings
) -> DataSourceTestRead:
    """Admin or owner. Runs the connector's checks (configuration, credentials, the remote answering)
    without importing anything; each check says what it tried and what failed. A failed check is `ok:
    false` in a 200, not an error status."""
    result = await service.test_source(session, settings, source_id)
    return DataSourceTestRead(
        ok=result.ok,
        checks=[CheckRead(name=c.name, ok=c.ok, detail=c.detail) for c in result.checks],
        error=result.error,
    )


@router.post(
    "/api/v1/data-sources/{source_id}/sync",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Start a sync job (poll the job or the sync history)",
    responses=error_responses(404, 409),
)
async def sync_data_source(
    source_id: uuid.UUID, session: TenantSession, principal: AnalystPrincipal, response: Response
) -> SyncRead:
    """Analyst or above. Queues a sync job and answers 202 with the sync (its `job_id`; the `Location`
    header is the job). 409 while a sync of the source is already waiting. The points land in
    `/api/v1/metrics` when the job succeeds."""
    sync = await service.request_sync(session, source_id, trigger="manual", requested_by=principal.user_id)
    response.headers["Location"] = f"/api/v1/jobs/{sync.job_id}"
    return SyncRead.model_validate(sync)


@router.get(
    "/api/v1/data-sources/{source_id}/syncs",
    summary="Sync history, newest first",
    responses=error_responses(404),
)
async def list_data_source_syncs(
    source_id: uuid.UUID, session: TenantSession, principal: CurrentPrincipal, page: PageParams
) -> Page[SyncRead]:
    """The source's syncs, newest first: trigger, status, records read, points written, start and end, and
    the error of a failed one. 404 for an unknown source."""
    syncs, total = await service.list_syncs(session, source_id, window=page)
    return Page.of([SyncRead.model_validate(s) for s in syncs], total, page)


@router.post(
    "/api/v1/data-sources/{source_id}/upload",
    status_code=status.HTTP_201_CREATED,
    response_model=SyncRead,
    summary="Upload a CSV/XLSX file to a 'file' data source (big files run as a job)",
    description="Written now and recorded as a sync run (201), or, for a file of more than "
    f"{upload_service.SYNC_MAX_UPLOAD_POINTS:,} points (data rows x metric columns), kept for the tenant "
    "and written by a `connectors.upload` job: 202 with `Location: /api/v1/jobs/{id}`, whose progress "
    "counts rows read and points written; the sync run records the outcome. All or nothing either way.",
    responses={
        **error_responses(404, 413),
        202: {"model": JobAccepted, "description": "A large file, queued as a background job"},
    },
)
async def upload_data_source_file(
    source_id: uuid.UUID,
    file: Annotated[UploadFile, File(description="A .csv or .xlsx file (long or wide layout).")],
    session: TenantSession,
    principal: AnalystPrincipal,
) -> Response:
    content = await file.read()
    sync = await uploads.upload_file(
        session, source_id, content, filename=file.filename or "upload.csv", requested_by=principal.user_id
    )
    if isinstance(sync, Queued):
        return job_accepted(sync)
    body = SyncRead.model_validate(sync).model_dump(mode="json")
    return JSONResponse(body, status_code=status.HTTP_201_CREATED)
