"""Helpers every agent uses: the tenant's metric catalog and naming the metric a question is about."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from backend.agents.question import match_metrics
from backend.services.metrics import service as metrics_service
from backend.services.metrics.repository import CatalogEntry
from backend.utils.repository import PageWindow

CATALOG_LIMIT = 200


async def catalog(session: AsyncSession) -> list[CatalogEntry]:
    """The tenant's metrics (through the metrics service, in the caller's tenant session)."""
    entries, _ = await metrics_service.list_catalog(session, PageWindow(CATALOG_LIMIT))
    return entries


def pick_metric(
    question: str, arguments: dict[str, Any], key: str, entries: Sequence[CatalogEntry]
) -> tuple[CatalogEntry | None, str]:
    """The catalog entry named by ``arguments[key]`` or, failing that, first named in the question.

    The second element explains a miss in words the user can act on.
    """
    names = [entry.name for entry in entries]
    wanted = arguments.get(key)
    if isinstance(wanted, str) and wanted:
        if wanted in names:
            return entries[names.index(wanted)], ""
        return None, f"'{wanted}' is not one of the tenant's metrics. {known_metrics(names)}"
    matched = match_metrics(question, names)
    if matched:
        return entries[names.index(matched[0])], ""
    return None, f"The question names no metric I know. {known_metrics(names)}"


def known_metrics(names: Sequence[str]) -> str:
    if not names:
        return "The tenant has no metrics yet: ingest some first."
    return "Known metrics: " + ", ".join(names) + "."


def inclusive_span(start: date, end_exclusive: date) -> str:
    return f"{start.isoformat()} to {(end_exclusive - timedelta(days=1)).isoformat()}"
