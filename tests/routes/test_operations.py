"""Health, readiness, metrics, docs, OpenAPI and the shape of every error."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from backend.main import create_app
from tests.conftest import client_for
from tests.factories import create_tenant, problem_locations


async def test_health_needs_no_database(settings) -> None:  # type: ignore[no-untyped-def]
    # No lifespan ran: there is no database at all, and liveness still answers.
    async with client_for(create_app(settings)) as http:
        response = await http.get("/api/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


async def test_ready_reports_database_and_migrations(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/ready")
    assert response.status_code == 200
    assert response.json()["checks"]["migrations"]["ok"] is True


async def test_ready_is_503_when_migrations_are_behind(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("backend.routes.health.head_revision", lambda: "20991231_99")
    response = await client.get("/api/ready")
    assert response.status_code == 503
    assert "code expects 20991231_99" in response.json()["checks"]["migrations"]["detail"]


async def test_metrics_use_route_templates_not_raw_paths(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await client.get(f"/api/v1/users/{tenant.owner_id}", headers=tenant.headers)
    body = (await client.get("/metrics")).text
    assert 'http_requests_total{method="GET",route="/api/v1/users/{user_id}",status="200"}' in body
    assert str(tenant.owner_id) not in body
    assert str(tenant.tenant_id) not in body
    assert "http_request_duration_seconds_bucket" in body
    assert 'db_query_duration_seconds_count{operation="select"}' in body


async def test_request_id_is_returned_and_honoured(client: httpx.AsyncClient) -> None:
    generated = await client.get("/api/health")
    assert len(generated.headers["x-request-id"]) == 32
    supplied = await client.get("/api/health", headers={"X-Request-ID": "trace-me-12345"})
    assert supplied.headers["x-request-id"] == "trace-me-12345"


async def test_docs_and_redoc_render_from_local_assets(client: httpx.AsyncClient) -> None:
    # No CDN: the pages must load their scripts from this app (offline machines render them too).
    for path, asset in (("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")):
        page = await client.get(path)
        assert page.status_code == 200 and "<html" in page.text.lower()
        assert f"/docs-static/{asset}" in page.text
        assert "cdn." not in page.text
        script = await client.get(f"/docs-static/{asset}")
        assert script.status_code == 200 and len(script.content) > 100_000
    assert (await client.get("/docs/oauth2-redirect")).status_code == 200


async def test_openapi_documents_operations_security_and_errors(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert {"OAuth2Password", "ApiKey"} <= set(spec["components"]["securitySchemes"])
    operation_ids = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            operation_ids.append(operation["operationId"])
            assert operation.get("tags"), f"{method} {path} has no tag"
            if path.startswith("/api/v1/"):
                errors = {
                    code: r for code, r in operation["responses"].items() if code.startswith(("4", "5"))
                }
                assert errors, f"{method} {path} documents no error response"
                for code, response in errors.items():
                    schema = response["content"]["application/json"]["schema"]
                    assert schema["$ref"].endswith("/ErrorResponse"), f"{method} {path} {code}"
    assert len(operation_ids) == len(set(operation_ids))
    assert "HTTPValidationError" not in spec["components"]["schemas"]


async def test_unknown_route_and_bad_body_use_the_error_shape(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/v1/nothing-here")
    assert missing.status_code == 404
    assert set(missing.json()["error"]) == {"code", "message", "details"}
    invalid = await client.post("/api/v1/tenants", json={"name": "", "owner_email": "not-an-email"})
    assert invalid.status_code == 422
    locations = {tuple(loc) for loc in problem_locations(invalid.json()["error"])}
    assert {("body", "name"), ("body", "owner_email")} <= locations


async def test_unexpected_error_is_500_with_request_id_and_no_internals(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    async def explode() -> None:
        raise RuntimeError("secret internal detail: password=hunter2")

    app.add_api_route("/api/test-only/explode", explode, include_in_schema=False)
    response = await client.get("/api/test-only/explode")
    assert response.status_code == 500
    body = response.json()
    assert body["error"]["code"] == "internal_error"
    assert body["error"]["details"]["problems"][0]["request_id"] == response.headers["x-request-id"]
    assert "hunter2" not in response.text and "RuntimeError" not in response.text


async def test_oversized_body_is_413(client: httpx.AsyncClient, settings) -> None:  # type: ignore[no-untyped-def]
    payload = b"x" * (settings.max_request_body_bytes + 1)
    response = await client.post(
        "/api/v1/tenants", content=payload, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


async def test_cors_allows_configured_origin_only(client: httpx.AsyncClient) -> None:
    preflight = {"Access-Control-Request-Method": "POST"}
    allowed = await client.options(
        "/api/v1/tenants", headers={"Origin": "http://localhost:3000", **preflight}
    )
    denied = await client.options("/api/v1/tenants", headers={"Origin": "https://evil.example", **preflight})
    assert allowed.headers.get("access-control-allow-origin") == "http://localhost:3000"
    assert "access-control-allow-origin" not in denied.headers


async def test_oversized_chunked_body_is_413(client: httpx.AsyncClient, settings) -> None:  # type: ignore[no-untyped-def]
    chunk = b"x" * 65536
    chunks = settings.max_request_body_bytes // len(chunk) + 2

    async def stream():  # type: ignore[no-untyped-def]
        for _ in range(chunks):
            yield chunk

    response = await client.post(
        "/api/v1/tenants", content=stream(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


async def test_metrics_endpoint_can_be_switched_off(settings) -> None:  # type: ignore[no-untyped-def]
    quiet = settings.model_copy(
        update={"observability": settings.observability.model_copy(update={"enable_prometheus": False})}
    )
    async with client_for(create_app(quiet)) as http:
        assert (await http.get("/metrics")).status_code == 404
