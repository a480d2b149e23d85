"""File upload as a source: CSV/Excel through the metrics upload parser (no pulling)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from backend.services.connectors.base import Check, ConfigModel, ConnectorType, SyncContext


class FileConfig(ConfigModel):
    layout: Literal["auto", "long", "wide"] = Field(
        default="auto",
        description="long: metric,timestamp,value[,dimension…]; wide: date,<metric>,<metric>…; auto detects.",
    )


class FileConnector(ConnectorType):
    name = "file"
    title = "File upload (CSV / Excel)"
    description = (
        "Upload .csv or .xlsx files to POST /api/v1/data-sources/{id}/upload; "
        "each upload is recorded as a sync."
    )
    config_model = FileConfig
    syncs = False

    async def test(self, context: SyncContext) -> list[Check]:
        return [Check("configuration", True, "file sources receive data by upload; nothing to reach")]
