"""A generic JSON API: auth, pagination, a record path and field mappings.

Pagination: ``page`` (page number), ``offset`` (offset/limit), ``cursor`` (a field of the
body names the next cursor) or ``link`` (RFC 8288 ``Link: <…>; rel="next"``). Incremental:
the largest timestamp seen is kept and, when ``incremental_param`` is set, sent as that
query parameter so the API returns only newer records.
"""

from __future__ import annotations

from typing import Any, Literal

import httpx
from pydantic import Field, model_validator

from backend.services.connectors.base import Check, ConfigModel, ConnectorType, SyncContext, SyncOutcome
from backend.services.connectors.http import ConnectorError
from backend.services.connectors.mapping import (
    MAX_REPORTED_PROBLEMS,
    RecordProblem,
    dimension_values,
    get_path,
    make_point,
    parse_number,
    parse_timestamp,
)
from backend.services.errors import Problem
from backend.services.metrics.points import METRIC_NAME_PATTERN, Point


class Pagination(ConfigModel):
    type: Literal["none", "page", "offset", "cursor", "link"] = "none"
    page_param: str = Field(default="page", description="page: the page-number parameter.")
    start_page: int = Field(default=1, ge=0)
    size_param: str | None = Field(default="per_page", description="page/offset: the page-size parameter.")
    page_size: int = Field(default=100, ge=1, le=10_000)
    offset_param: str = Field(default="offset", description="offset: the offset parameter.")
    cursor_param: str = Field(default="cursor", description="cursor: the parameter carrying the cursor.")
    cursor_path: str = Field(
        default="next_cursor", description="cursor: dotted path of the next cursor in the body."
    )


class FieldMappings(ConfigModel):
    timestamp: str = Field(description="Dotted path of the record's timestamp (ISO 8601 or epoch seconds).")
    values: dict[str, str] = Field(
        default_factory=dict,
        description="Metric name → dotted path of its numeric value (wide records: one point per metric).",
    )
    metric_field: str | None = Field(default=None, description="Long records: path of the metric name.")
    value_field: str | None = Field(default=None, description="Long records: path of the value.")
    dimensions: dict[str, str] = Field(default_factory=dict, description="Dimension name → dotted path.")

    @model_validator(mode="after")
    def _values_or_long(self) -> FieldMappings:
        long_form = self.metric_field is not None and self.value_field is not None
        if not self.values and not long_form:
            raise ValueError(
                "map at least one metric in 'values', or set both 'metric_field' and 'value_field'"
            )
        for name in self.values:
            import re

            if not re.match(METRIC_NAME_PATTERN, name):
                raise ValueError(f"metric name {name!r} must be a lowercase slug")
        return self


class RestJsonConfig(ConfigModel):
    url: str = Field(max_length=2000, description="The endpoint returning records (GET).")
    query: dict[str, str] = Field(default_factory=dict, description="Fixed query parameters.")
    auth: Literal["none", "bearer", "api_key_header", "basic"] = "none"
    api_key_header: str = Field(default="X-API-Key", description="api_key_header: the header's name.")
    record_path: str = Field(
        default="", description="Dotted path of the list of records; '' = the body is a list."
    )
    pagination: Pagination = Field(default_factory=Pagination)
    mappings: FieldMappings
    incremental_param: str | None = Field(
        default=None, description="Query parameter receiving the last synced timestamp (ISO 8601)."
    )

    @model_validator(mode="after")
    def _http_url(self) -> RestJsonConfig:
        if not self.url.startswith(("https://", "http://")):
            raise ValueError("url must be an http(s) URL")
        return self


class RestJsonCredentials(ConfigModel):
    token: str | None = Field(default=None, description="bearer: the token.")
    api_key: str | None = Field(default=None, description="api_key_header: the key.")
    username: str | None = Field(default=None, description="basic: user name.")
    password: str | None = Field(default=None, description="basic: password.")


def _auth(
    config: RestJsonConfig, credentials: RestJsonCredentials | None
) -> tuple[dict[str, str], httpx.BasicAuth | None]:
    creds = credentials or RestJsonCredentials()
    missing = ConnectorError("the credentials for this auth method are missing", code="missing_credentials")
    if config.auth == "bearer":
        if not creds.token:
            raise missing
        return {"Authorization": f"Bearer {creds.token}"}, None
    if config.auth == "api_key_header":
        if not creds.api_key:
            raise missing
        return {config.api_key_header: creds.api_key}, None
    if config.auth == "basic":
        if creds.username is None or creds.password is None:
            raise missing
        return {}, httpx.BasicAuth(creds.username, creds.password)
    return {}, None


def _records(body: Any, path: str, url: str) -> list[Any]:
    records = get_path(body, path)
    if not isinstance(records, list):
        raise ConnectorError(
            f"no list of records at record_path {path!r} in the response",
            code="unexpected_response",
            context={"record_path": path, "url": url},
        )
    return records


def _points_of(record: Any, mappings: FieldMappings, context: SyncContext) -> list[Point]:
    ts = parse_timestamp(get_path(record, mappings.timestamp), context.zone)
    dimensions = dimension_values(record, mappings.dimensions)
    points = []
    if mappings.metric_field and mappings.value_field:
        metric = str(get_path(record, mappings.metric_field) or "")
        points.append(
            make_point(metric, ts, parse_number(get_path(record, mappings.value_field)), dimensions)
        )
    for metric, path in mappings.values.items():
        raw = get_path(record, path)
        if raw is not None:
            points.append(make_point(metric, ts, parse_number(raw), dimensions))
    return points


class RestJsonConnector(ConnectorType):
    name = "rest_json"
    title = "REST / JSON API"
    description = (
        "Any JSON API: bearer, API-key header or basic auth; page, offset, cursor or Link pagination."
    )
    config_model = RestJsonConfig
    credentials_model = RestJsonCredentials

    async def _pages(self, context: SyncContext, cursor: dict[str, Any], *, max_pages: int) -> Any:
        config: RestJsonConfig = context.config
        headers, basic = _auth(config, context.credentials)
        pagination = config.pagination
        params: dict[str, Any] = dict(config.query)
        if config.incremental_param and cursor.get("watermark"):
            params[config.incremental_param] = cursor["watermark"]
        if pagination.type in ("page", "offset") and pagination.size_param:
            params[pagination.size_param] = pagination.page_size
        page, offset, url = pagination.start_page, 0, config.url
        for number in range(max_pages):
            if pagination.type == "page":
                params[pagination.page_param] = page
            elif pagination.type == "offset":
                params[pagination.offset_param] = offset
            response = await context.http.get(url, params=params, headers=headers, auth=basic)
            try:
                body = response.json()
            except ValueError as error:
                raise ConnectorError(
                    "the response is not JSON", code="unexpected_response", context={"page": number + 1}
                ) from error
            records = _records(body, config.record_path, config.url)
            yield records
            if pagination.type == "none" or not records:
                return
            if pagination.type == "page":
                page += 1
            elif pagination.type == "offset":
                offset += len(records)
            elif pagination.type == "cursor":
                next_cursor = get_path(body, pagination.cursor_path)
                if next_cursor in (None, ""):
                    return
                params[pagination.cursor_param] = next_cursor
            elif pagination.type == "link":
                next_link = response.links.get("next", {}).get("url")
                if not next_link:
                    return
                url, params = str(response.request.url.join(next_link)), {}
        raise ConnectorError(
            f"stopped after {max_pages} pages (CONNECTOR_MAX_PAGES); check the pagination settings",
            code="too_many_pages",
        )

    async def test(self, context: SyncContext) -> list[Check]:
        checks = []
        async for records in self._pages(context, {}, max_pages=1):
            checks.append(Check("reachable", True, f"first page has {len(records)} records"))
            problems = []
            for record in records[:20]:
                try:
                    _points_of(record, context.config.mappings, context)
                except RecordProblem as problem:
                    problems.append(str(problem))
            checks.append(
                Check(
                    "mappings", not problems, problems[0] if problems else "the first records map to points"
                )
            )
            break
        return checks

    async def sync(self, context: SyncContext, cursor: dict[str, Any]) -> SyncOutcome:
        points: list[Point] = []
        problems: list[Problem] = []
        problem_count = records_read = pages = 0
        watermark = cursor.get("watermark")
        async for records in self._pages(context, cursor, max_pages=context.settings.max_pages):
            pages += 1
            for record in records:
                records_read += 1
                try:
                    record_points = _points_of(record, context.config.mappings, context)
                except RecordProblem as problem:
                    problem_count += 1
                    if len(problems) < MAX_REPORTED_PROBLEMS:
                        problems.append(
                            Problem.of("unmappable_record", str(problem), {"record": records_read})
                        )
                    continue
                points.extend(record_points)
                for point in record_points:
                    stamp = point.ts.isoformat()
                    if watermark is None or point.ts > parse_timestamp(watermark, context.zone):
                        watermark = stamp
            await context.report(min(90, 5 + pages), f"read {records_read} records from {pages} pages")
        if problem_count:
            raise ConnectorError(
                f"{problem_count} records could not be mapped to points; nothing was written",
                code="invalid_data",
                problems=problems,
            )
        new_cursor = {"watermark": watermark} if watermark else dict(cursor)
        return SyncOutcome(points=points, cursor=new_cursor, records_read=records_read)
