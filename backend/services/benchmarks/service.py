"""External benchmarks: CSV import with provenance, listing, and comparing the tenant's own value.

``external_benchmarks`` is global reference data: the application role can only read
it. An import is validated here and queued as a job; the worker role runs it through the
``import_external_benchmarks`` SECURITY DEFINER function (revisions 20261126_04 and
20261204_02), which the application role cannot execute. Only owners/admins of the tenants
allowed by ``BENCHMARK_ADMIN_TENANTS`` may import; the worker checks the tenant again.
No figures ship with the code: every row comes from an import that names its source and
a source URL.
"""

from __future__ import annotations

import csv
import io
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypedDict
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import Settings
from backend.models import ExternalBenchmark
from backend.services.benchmarks import repository
from backend.services.benchmarks.compare import PERIODS, last_complete_period, position
from backend.services.errors import Forbidden, NotFound, Problem, ValidationFailed
from backend.services.metrics.points import default_aggregation, metric_name_problem
from backend.services.queue import JobKind
from backend.services.workload import Queued, queue
from backend.utils.repository import PageWindow

IMPORT_QUEUE = "benchmarks"


class BenchmarkImport(BaseModel):
    """The payload of an import job: the checked rows of the CSV."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rows: list[dict[str, Any]]  # BenchmarkRow: a typing.TypedDict pydantic refuses on 3.11


IMPORT_JOB = JobKind("benchmarks.import", BenchmarkImport, queue=IMPORT_QUEUE, max_attempts=1)
REQUIRED_COLUMNS = ("industry", "metric", "period", "source", "source_url", "year")
PERCENTILES = ("p25", "p50", "p75")
MAX_IMPORT_ROWS = 10_000


@dataclass(frozen=True)
class Comparison:
    benchmark: ExternalBenchmark
    period_start: datetime
    period_end: datetime
    aggregation: str
    tenant_value: float | None
    position: str
    estimated_percentile: float | None


def check_import_allowed(settings: Settings, tenant_id: uuid.UUID) -> None:
    allowed = settings.connectors.benchmark_admin_tenants
    if allowed:
        if str(tenant_id) not in allowed:
            raise Forbidden(
                "benchmark imports are reserved to the operator's tenants (BENCHMARK_ADMIN_TENANTS)"
            )
    elif settings.is_production:
        raise Forbidden(
            "benchmark imports are disabled: set BENCHMARK_ADMIN_TENANTS to allow an operator tenant"
        )


def _number(value: str, column: str, problems: list[str]) -> float | None:
    if value.strip() == "":
        return None
    try:
        number = float(value)
    except ValueError:
        problems.append(f"{column} is not a number")
        return None
    if not math.isfinite(number):
        problems.append(f"{column} must be finite")
    return number


class BenchmarkRow(TypedDict):
    """One validated row of a benchmark CSV, as the import job receives it."""

    industry: str
    metric: str
    period: str
    source: str
    source_url: str
    year: int
    p25: float | None
    p50: float | None
    p75: float | None


def _csv_reader(content: bytes) -> csv.DictReader[str]:
    """A reader over the CSV's rows once its encoding and header are checked."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValidationFailed("the file is not UTF-8 text") from error
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip().lower() for name in reader.fieldnames or []]
    missing = [column for column in (*REQUIRED_COLUMNS, *PERCENTILES) if column not in header]
    if missing:
        raise ValidationFailed(
            "the CSV misses required columns", context={"missing": missing, "header": header}
        )
    return reader


def _field_problems(row: dict[str, str]) -> list[str]:
    """What is wrong with a row's text fields (required, URL, metric slug, period, year)."""
    problems = [f"{column} is required" for column in REQUIRED_COLUMNS if not row.get(column)]
    if row.get("source_url") and not row["source_url"].startswith(("https://", "http://")):
        problems.append("source_url must be an http(s) URL of the publication")
    if row.get("metric") and metric_name_problem(row["metric"]):
        problems.append("metric must be a lowercase slug matching the tenant's metric names")
    if row.get("period") and row["period"] not in PERIODS:
        problems.append(f"period must be one of {', '.join(PERIODS)}")
    year = row.get("year", "")
    if year and (not year.isdigit() or not 1900 <= int(year) <= 2100):
        problems.append("year must be a four-digit year")
    return problems


def _percentiles(row: dict[str, str], problems: list[str]) -> dict[str, float | None]:
    """The row's percentiles; at least one, and never decreasing (problems are appended)."""
    values = {column: _number(row.get(column, ""), column, problems) for column in PERCENTILES}
    present = [value for value in (values[column] for column in PERCENTILES) if value is not None]
    if not present:
        problems.append("at least one of p25, p50, p75 is required")
    elif present != sorted(present):
        problems.append("percentiles must not decrease (p25 <= p50 <= p75)")
    return values


def _parse_row(raw: dict[str | None, str | None]) -> tuple[BenchmarkRow | None, list[str]]:
    """A validated row, or None and what is wrong with it."""
    row = {(key or "").strip().lower(): (value or "").strip() for key, value in raw.items()}
    problems = _field_problems(row)
    values = _percentiles(row, problems)
    if problems:
        return None, problems
    parsed = BenchmarkRow(
        industry=row["industry"][:100],
        metric=row["metric"],
        period=row["period"],
        source=row["source"][:200],
        source_url=row["source_url"][:500],
        year=int(row["year"]),
        p25=values["p25"],
        p50=values["p50"],
        p75=values["p75"],
    )
    return parsed, []


def parse_csv(content: bytes) -> list[BenchmarkRow]:
    """Validated rows of a benchmark CSV; every row needs provenance (source, source_url, year)."""
    rows: list[BenchmarkRow] = []
    errors: list[Problem] = []
    for number, raw in enumerate(_csv_reader(content), start=2):
        parsed, problems = _parse_row(raw)
        if parsed is None:
            errors += [Problem.cell(number, None, problem) for problem in problems]
            continue
        rows.append(parsed)
        if len(rows) > MAX_IMPORT_ROWS:
            raise ValidationFailed(f"at most {MAX_IMPORT_ROWS} rows per import")
    if errors:
        raise ValidationFailed(
            f"{len({e.row for e in errors})} rows are invalid; nothing was imported", problems=errors[:100]
        )
    if not rows:
        raise ValidationFailed("the CSV has no rows")
    return rows


async def queue_import(
    session: AsyncSession,
    settings: Settings,
    tenant_id: uuid.UUID,
    content: bytes,
    *,
    requested_by: uuid.UUID | None,
) -> Queued:
    """Validate the CSV and queue its import (the job's result counts the rows written)."""
    check_import_allowed(settings, tenant_id)
    rows = parse_csv(content)
    return await queue(
        session, IMPORT_JOB, BenchmarkImport(rows=rows), reason="global_data", requested_by=requested_by
    )


async def list_benchmarks(
    session: AsyncSession, window: PageWindow, *, industry: str | None, metric: str | None
) -> tuple[list[ExternalBenchmark], int]:
    return await repository.list_benchmarks(session, window, industry=industry, metric=metric)


async def compare(
    session: AsyncSession, *, metric: str, industry: str | None, now: datetime | None = None
) -> tuple[str, list[Comparison]]:
    """The tenant's value over the last complete benchmark period, placed among the percentiles."""
    tenant_industry, timezone = await repository.tenant_profile(session)
    industry = industry or tenant_industry
    if not industry:
        raise ValidationFailed("set your tenant's industry, or pass industry=", context={"field": "industry"})
    benchmarks, _ = await repository.list_benchmarks(
        session, PageWindow(100), industry=industry, metric=metric
    )
    if not benchmarks:
        raise NotFound(
            f"no benchmark for metric {metric!r} in industry {industry!r}",
            context={"metric": metric, "industry": industry},
        )
    zone = ZoneInfo(timezone)
    aggregation = await repository.metric_aggregation(session, metric) or default_aggregation(metric)
    comparisons = []
    for benchmark in benchmarks:
        start, end = last_complete_period(benchmark.period, now or datetime.now(UTC), zone)
        value = await repository.aggregate(session, metric, aggregation, start, end)
        band, percentile = (
            position(value, benchmark.p25, benchmark.p50, benchmark.p75)
            if value is not None
            else ("no_data", None)
        )
        comparisons.append(Comparison(benchmark, start, end, aggregation, value, band, percentile))
    return industry, comparisons
