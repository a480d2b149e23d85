"""Swagger UI works: every operation is described, documents 400 and 500 with the error envelope,
and every request example in /openapi.json succeeds on the demo shop as "Try it out" sends it.

The demo shop is built once through the API of a live server (``backend/demo``, as ``make
demo`` does); each operation with an example is then sent with its examples (path and query
parameters, and the JSON body) as the demo owner, and must answer 2xx.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from backend.demo.builder import DEMO_EMAIL, DEMO_PASSWORD, build_demo
from backend.routes.examples import DEMO_LOGIN, EXAMPLE_METRIC
from backend.utils.database_urls import DatabaseUrls
from tests.live_server import live_server

METHODS = {"get", "post", "put", "patch", "delete"}
# The operations a newcomer tries first: each must carry an example.
MAIN_OPERATIONS = {
    "login",
    "ingest_metrics",
    "query_metric",
    "create_forecast",
    "create_goal",
    "plan_goal_drafts",
    "analyze_evidence",
    "screen_evidence_drivers",
    "run_evidence_granger",
    "create_optimization_run",
    "run_optimization_what_if",
    "chat_with_coach",
    "chat_with_coach_stream",
}
# Path parameters that are ids: the demo data (or an earlier example's result) names one.
ID_LISTS = {"run_id": "/api/v1/optimizer/runs?template=budget_allocation"}


@dataclass
class Operation:
    method: str
    path: str
    spec: dict[str, Any]
    params: dict[str, Any] = field(default_factory=dict)
    path_params: dict[str, Any] = field(default_factory=dict)

    @property
    def operation_id(self) -> str:
        return str(self.spec["operationId"])

    def json_example(self) -> Any | None:
        media = self.spec.get("requestBody", {}).get("content", {}).get("application/json", {})
        return _first_example(media)


def _first_example(holder: dict[str, Any]) -> Any | None:
    examples = holder.get("examples") or {}
    return next(iter(examples.values()))["value"] if examples else None


def _operations(spec: dict[str, Any]) -> Iterator[Operation]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield Operation(method, path, operation)


def _with_examples(spec: dict[str, Any]) -> list[Operation]:
    found = []
    for operation in _operations(spec):
        for parameter in operation.spec.get("parameters", []):
            value = _first_example(parameter)
            if value is not None:
                target = operation.path_params if parameter["in"] == "path" else operation.params
                target[parameter["name"]] = value
        if operation.params or operation.path_params or operation.json_example() is not None:
            found.append(operation)
    return found


def _url(http: httpx.Client, operation: Operation) -> str:
    def resolve(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in operation.path_params:
            return str(operation.path_params[name])
        listed = http.get(ID_LISTS[name])
        assert listed.status_code == 200 and listed.json()["items"], (name, listed.text)
        return str(listed.json()["items"][0]["id"])

    return re.sub(r"\{(\w+)\}", resolve, operation.path)


@pytest.fixture(scope="module")
def demo_api(database_urls: DatabaseUrls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with live_server(database_urls, tmp_path_factory.mktemp("examples-server")) as base:
        build_demo(base)
        yield base


async def test_every_operation_is_described_and_documents_400_and_500(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    operations = list(_operations(spec))
    assert len(operations) > 90
    for operation in operations:
        where = f"{operation.method.upper()} {operation.path}"
        assert operation.spec.get("summary", "").strip(), f"{where} has no summary"
        assert len(operation.spec.get("description", "").strip()) >= 40, f"{where} has no real description"
        for status in ("400", "500"):
            response = operation.spec["responses"].get(status)
            assert response, f"{where} does not document {status}"
            schema = response["content"]["application/json"]["schema"]
            assert schema["$ref"] == "#/components/schemas/ErrorResponse", (where, status)


async def test_the_main_operations_have_examples_and_none_invents_a_uuid(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    with_examples = _with_examples(spec)
    assert {operation.operation_id for operation in with_examples} >= MAIN_OPERATIONS
    uuid_like = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
    for operation in with_examples:
        # A made-up id (Swagger's 3fa85f64-… placeholder) can only answer 404.
        assert not uuid_like.search(repr(operation.json_example())), operation.operation_id
    writers = [op for op in with_examples if op.operation_id == "ingest_metrics"]
    (ingest,) = writers
    points = ingest.json_example()["points"]
    assert {point["metric"] for point in points} == {EXAMPLE_METRIC}
    media = ingest.spec["requestBody"]["content"]["application/json"]["examples"]
    assert all("Writes one data point" in example["description"] for example in media.values())


async def test_the_authorize_dialog_hides_the_client_fields(client: httpx.AsyncClient) -> None:
    page = (await client.get("/docs")).text
    for row in ("client_id_password", "client_secret_password", "password_type"):
        assert f'label[for="{row}"]' in page, row


@pytest.mark.slow
def test_every_example_succeeds_on_the_demo_shop(demo_api: str) -> None:
    assert DEMO_LOGIN == {"email": DEMO_EMAIL, "password": DEMO_PASSWORD}
    with httpx.Client(base_url=demo_api, timeout=300) as http:
        spec = http.get("/openapi.json").json()
        operations = _with_examples(spec)
        login = http.post("/api/v1/auth/login", json=DEMO_LOGIN)
        assert login.status_code == 200, login.text
        http.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        sent = set()
        for operation in operations:
            body = operation.json_example()
            response = http.request(
                operation.method,
                _url(http, operation),
                params=operation.params,
                json=body if body is not None else None,
            )
            assert 200 <= response.status_code < 300, (operation.operation_id, response.text[:2000])
            assert response.status_code != 202, (operation.operation_id, "queued instead of answered")
            sent.add(operation.operation_id)
        assert sent >= MAIN_OPERATIONS
        form = spec["paths"]["/api/v1/auth/login"]["post"]["requestBody"]["content"]
        signed_in = http.post(
            "/api/v1/auth/login", data=_first_example(form["application/x-www-form-urlencoded"])
        )
        assert signed_in.status_code == 200 and signed_in.json()["access_token"], signed_in.text
        listed = http.get("/api/v1/metrics", params={"limit": 200}).json()["items"]
        catalog = {item["name"] for item in listed}
        assert EXAMPLE_METRIC in catalog
        written = http.get(f"/api/v1/metrics/{EXAMPLE_METRIC}").json()
        assert written["total"] == 1 and written["series"][0]["points"][0]["value"] == 1
