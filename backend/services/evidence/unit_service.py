"""Unit-level studies: check the table in the request, then run it there or queue it as a job.

Every data problem (a bad cell, duplicate ids, unknown columns, a treatment without variation,
constant or collinear covariates, too few units) is found before anything runs or is queued,
so it is a 422 of the request, never a failed job. Nothing is stored: the result is the answer
(or the job's result).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

from sqlalchemy.ext.asyncio import AsyncSession

from backend.jobs.enqueue import enqueue
from backend.services.errors import ValidationFailed
from backend.services.evidence.service import BACKGROUND_METHODS, SYNC_MAX_GRAPH_WORK
from backend.services.evidence.types import UnitStudyResult, UnitStudySpec
from backend.services.evidence.unit_table import UnitTable, build_unit_table, json_rows, sheet_rows
from backend.services.evidence.units import analyse_table, checked_table, graph_work, study_columns
from backend.services.metrics.upload import csv_rows, xlsx_rows
from backend.utils.compute import ComputePool
from backend.utils.database import session_tenant

UNIT_STUDY_JOB = "evidence.unit_study"
UNIT_STUDY_QUEUE = "evidence"


def table_from_json(spec: UnitStudySpec, rows: Sequence[Mapping[str, Any]]) -> UnitTable:
    """CPU-bound for large tables: call it in a worker thread."""
    columns = study_columns(spec)
    return checked_table(build_unit_table(json_rows(rows, columns), columns), spec)


def table_from_file(spec: UnitStudySpec, stream: IO[bytes], filename: str) -> UnitTable:
    """A CSV (UTF-8) or .xlsx upload, parsed with the metric upload's readers; call it in a thread."""
    lower = filename.lower()
    if lower.endswith(".xlsx"):
        rows: Any = xlsx_rows(stream)
    elif lower.endswith((".csv", ".txt")) or "." not in lower:
        rows = csv_rows(stream)
    else:
        raise ValidationFailed("Upload a .csv or .xlsx file.", details={"filename": filename})
    columns = study_columns(spec)
    return checked_table(build_unit_table(sheet_rows(rows, columns), columns), spec)


def background_reason(spec: UnitStudySpec, table: UnitTable, *, requested: bool) -> str | None:
    """Why this study runs as a job, or None to run it in the request (graph size counts)."""
    if requested:
        return "requested"
    if spec.method in BACKGROUND_METHODS:
        return f"method {spec.method} re-fits a flexible model in every refuter draw"
    work = graph_work(len(table.frame), len(table.adjustment), spec.refutation_simulations)
    if work > SYNC_MAX_GRAPH_WORK:
        return (
            f"{len(table.frame)} units x ({len(table.adjustment)} adjustment columns + 2) x "
            f"{spec.refutation_simulations} refutation simulations = {work:,} exceeds the synchronous "
            f"limit of {SYNC_MAX_GRAPH_WORK:,}"
        )
    return None


@dataclass(frozen=True)
class StudyStarted:
    """Either the result (run in the request) or the queued job and why it was queued."""

    result: UnitStudyResult | None = None
    job_id: uuid.UUID | None = None
    background_reason: str | None = None


async def run_study(
    session: AsyncSession,
    pool: ComputePool,
    spec: UnitStudySpec,
    table: UnitTable,
    *,
    background: bool = False,
    requested_by: uuid.UUID | None = None,
) -> StudyStarted:
    """Analyse a checked table now, or queue it (``background``, or beyond the synchronous limit)."""
    reason = background_reason(spec, table, requested=background)
    if reason is None:
        return StudyStarted(result=await pool.run(analyse_table, table, spec))
    payload = {"spec": spec.model_dump(mode="json"), "rows": table.clean_rows}
    job_id = await enqueue(session, session_tenant(session), UNIT_STUDY_JOB, payload, created_by=requested_by)
    return StudyStarted(job_id=job_id, background_reason=reason)


async def study_from_json(
    session: AsyncSession,
    pool: ComputePool,
    spec: UnitStudySpec,
    rows: Sequence[Mapping[str, Any]],
    *,
    background: bool,
    requested_by: uuid.UUID | None,
) -> StudyStarted:
    table = await asyncio.to_thread(table_from_json, spec, rows)
    return await run_study(session, pool, spec, table, background=background, requested_by=requested_by)


async def study_from_file(
    session: AsyncSession,
    pool: ComputePool,
    spec: UnitStudySpec,
    stream: IO[bytes],
    filename: str,
    *,
    background: bool,
    requested_by: uuid.UUID | None,
) -> StudyStarted:
    table = await asyncio.to_thread(table_from_file, spec, stream, filename)
    return await run_study(session, pool, spec, table, background=background, requested_by=requested_by)
