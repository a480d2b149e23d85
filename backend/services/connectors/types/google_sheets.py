"""A published Google Sheet, read through its CSV export URL and the metrics upload parser.

Incremental: the cursor keeps a digest of the last CSV read; an unchanged sheet writes
nothing. A changed sheet is re-ingested whole — idempotent, so unchanged rows stay as
they were and edited cells update their points.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import re
from typing import Any, Literal

from pydantic import Field, field_validator

from backend.services.connectors.base import (
    Check,
    ConfigModel,
    ConnectorType,
    SyncContext,
    SyncOutcome,
)
from backend.services.connectors.http import ConnectorError
from backend.services.errors import Problem, ValidationFailed
from backend.services.metrics.service import parse_upload

_EDIT_URL = re.compile(
    r"^https://docs\.google\.com/spreadsheets/d/([A-Za-z0-9_-]+)/(?:edit|view)[^#]*(?:#gid=(\d+))?"
)


class GoogleSheetsConfig(ConfigModel):
    csv_url: str = Field(
        description=(
            "The sheet's CSV export URL (File → Share → Publish to web → CSV, or "
            "https://docs.google.com/spreadsheets/d/<id>/export?format=csv&gid=<gid>). An /edit link of a "
            "sheet shared with 'anyone with the link' is converted."
        ),
        max_length=2000,
    )
    layout: Literal["auto", "long", "wide"] = "auto"

    @field_validator("csv_url")
    @classmethod
    def _export_url(cls, value: str) -> str:
        value = value.strip()
        if not value.startswith(("https://", "http://")):
            raise ValueError("csv_url must be an http(s) URL")
        match = _EDIT_URL.match(value)
        if match:
            sheet_id, gid = match.group(1), match.group(2) or "0"
            return f"https://docs.google.com/spreadsheets/d/{sheet_id}/export?format=csv&gid={gid}"
        return value


async def _parse(content: bytes, layout: str, context: SyncContext) -> Any:
    try:
        return await asyncio.to_thread(
            parse_upload, io.BytesIO(content), filename="sheet.csv", zone=context.zone, layout=layout
        )
    except ValidationFailed as error:
        raise ConnectorError(
            f"the sheet is not usable: {error.message}", code="invalid_data", problems=error.problems
        ) from error


class GoogleSheetsConnector(ConnectorType):
    name = "google_sheets"
    title = "Google Sheets (published CSV)"
    description = (
        "Reads a published sheet's CSV export: long (metric,timestamp,value) or wide (date,<metric>…)."
    )
    config_model = GoogleSheetsConfig

    async def test(self, context: SyncContext) -> list[Check]:
        response = await context.http.get(context.config.csv_url)
        parsed = await _parse(response.content, context.config.layout, context)
        return [
            Check("reachable", True, f"downloaded {len(response.content)} bytes"),
            Check(
                "parsable",
                parsed.error_count == 0,
                f"{parsed.layout} layout, {len(parsed.points)} points, {parsed.error_count} row errors",
            ),
        ]

    async def sync(self, context: SyncContext, cursor: dict[str, Any]) -> SyncOutcome:
        response = await context.http.get(context.config.csv_url)
        digest = hashlib.sha256(response.content).hexdigest()
        if cursor.get("sha256") == digest:
            return SyncOutcome(
                points=[], cursor=cursor, records_read=0, notes=["sheet unchanged since last sync"]
            )
        parsed = await _parse(response.content, context.config.layout, context)
        if parsed.error_count:
            raise ConnectorError(
                f"the sheet has {parsed.error_count} invalid rows; nothing was written",
                code="invalid_data",
                problems=[Problem.cell(e.row, e.column, e.message) for e in parsed.errors[:10]],
            )
        return SyncOutcome(points=parsed.points, cursor={"sha256": digest}, records_read=parsed.rows_read)
