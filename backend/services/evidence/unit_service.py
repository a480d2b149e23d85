"""Unit-level studies: check the table in the request, then run it there or queue it as a job.

Every data problem (a bad cell, duplicate ids, unknown columns, a treatment without variation,
constant or collinear covariates, too few units) is found before anything runs or is queued,
so it is a 422 of the request, never a failed job. Nothing is stored: the result is the answer
(or the job's result).
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession

from backend.services.evidence.service import SYNC_MAX_GRAPH_WORK, flexible_method_rule
from backend.services.evidence.types import UnitStudyResult, UnitStudySpec
from backend.services.evidence.unit_table import UnitTable, build_unit_table, json_rows, sheet_rows
from backend.services.evidence.units import analyse_table, checked_table, graph_work, study_columns
from backend.services.metrics.upload import file_rows
from backend.services.queue import JobKind
from backend.services.workload import SYSTEM, Queued, Requester, SizeRule, queue_reason, run_or_queue
from backend.utils.compute import ComputePool

UNIT_STUDY_QUEUE = "evidence"


class UnitStudyPayload(BaseModel):
    """The payload of a unit-study job: the spec and the checked rows (re-checked by the worker)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    spec: UnitStudySpec
    rows: list[dict[str, Any]]


UNIT_STUDY_JOB = JobKind("evidence.unit_study", UnitStudyPayload, queue=UNIT_STUDY_QUEUE, max_attempts=2)


def table_from_json(spec: UnitStudySpec, rows: Sequence[Mapping[str, Any]]) -> UnitTable:
    """CPU-bound for large tables: call it in a worker thread."""
    columns = study_columns(spec)
    return checked_table(build_unit_table(json_rows(rows, columns), columns), spec)


def table_from_file(spec: UnitStudySpec, stream: IO[bytes], filename: str) -> UnitTable:
    """A CSV (UTF-8) or .xlsx upload, parsed with the metric upload's readers; call it in a thread."""
    rows = file_rows(stream, filename)
    columns = study_columns(spec)
    return checked_table(build_unit_table(sheet_rows(rows, columns), columns), spec)


@dataclass(frozen=True)
class StudySize:
    """What the synchronous limits of a study count: the spec and its checked table."""

    spec: UnitStudySpec
    table: UnitTable

    @property
    def work(self) -> int:
        return graph_work(len(self.table.frame), len(self.table.adjustment), self.spec.refutation_simulations)


def _describe_work(size: StudySize, work: int) -> str:
    return (
        f"{len(size.table.frame)} units x ({len(size.table.adjustment)} adjustment columns + 2) x "
        f"{size.spec.refutation_simulations} refutation simulations = {work:,} exceeds the synchronous "
        f"limit of {SYNC_MAX_GRAPH_WORK:,}"
    )


STUDY_RULES: tuple[SizeRule[StudySize], ...] = (
    flexible_method_rule("unit study"),
    SizeRule(
        "unit study",
        "units x (adjustment columns + 2) x refutation simulations",
        SYNC_MAX_GRAPH_WORK,
        lambda size: size.work,
        why="1,000 units x 25 covariates x 20 simulations took 4.6-11 s on 2 shared cores",
        describe=_describe_work,
    ),
)


def table_from_bytes(spec: UnitStudySpec, content: bytes, filename: str) -> UnitTable:
    """``table_from_file`` of an upload's bytes (picklable, so it runs in the CPU executor)."""
    return table_from_file(spec, io.BytesIO(content), filename)


def background_reason(spec: UnitStudySpec, table: UnitTable) -> str | None:
    """Why this study runs as a job, or None to run it in the request (graph size counts)."""
    return queue_reason(STUDY_RULES, StudySize(spec, table))


async def run_study(
    session: AsyncSession,
    pool: ComputePool,
    spec: UnitStudySpec,
    table: UnitTable,
    requester: Requester = SYSTEM,
) -> UnitStudyResult | Queued:
    """Analyse a checked table now, or queue it (asked for, or beyond a size rule)."""

    async def now() -> UnitStudyResult:
        return await pool.run(analyse_table, table, spec)

    return await run_or_queue(
        session,
        requester,
        reason=background_reason(spec, table),
        run=now,
        kind=UNIT_STUDY_JOB,
        payload=lambda: UnitStudyPayload(spec=spec, rows=table.clean_rows),
    )


async def study_from_json(
    session: AsyncSession,
    pool: ComputePool,
    spec: UnitStudySpec,
    rows: Sequence[Mapping[str, Any]],
    requester: Requester,
) -> UnitStudyResult | Queued:
    table = await pool.run(table_from_json, spec, rows)
    return await run_study(session, pool, spec, table, requester)


async def study_from_file(
    session: AsyncSession,
    pool: ComputePool,
    spec: UnitStudySpec,
    stream: IO[bytes],
    filename: str,
    requester: Requester,
) -> UnitStudyResult | Queued:
    content = await asyncio.to_thread(stream.read)  # the upload's spooled file: I/O, not CPU
    table = await pool.run(table_from_bytes, spec, content, filename)
    return await run_study(session, pool, spec, table, requester)
