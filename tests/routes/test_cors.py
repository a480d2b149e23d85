"""CORS as a single-page app meets it: a refused preflight answers in the error envelope, and the
headers a script needs (Location, ETag, Retry-After) are readable cross-origin."""

from __future__ import annotations

import httpx

from tests.factories import create_tenant

ALLOWED = "http://localhost:3000"  # the test settings' CORS_ORIGINS


def _preflight(origin: str, method: str = "POST", headers: str | None = None) -> dict[str, str]:
    asked = {"Origin": origin, "Access-Control-Request-Method": method}
    return asked | ({"Access-Control-Request-Headers": headers} if headers else {})


async def test_a_disallowed_origin_gets_the_error_envelope(client: httpx.AsyncClient) -> None:
    refused = await client.options("/api/v1/tenants", headers=_preflight("https://evil.example"))
    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/json"
    assert "access-control-allow-origin" not in refused.headers
    error = refused.json()["error"]
    assert error["code"] == "cors_rejected"
    (problem,) = error["details"]["problems"]
    assert (problem["code"], problem["field"], problem["location"]) == (
        "origin_not_allowed",
        "Origin",
        "header",
    )


async def test_each_refused_part_of_a_preflight_is_a_problem(client: httpx.AsyncClient) -> None:
    asked = _preflight("https://evil.example", method="TRACE", headers="X-Secret-Header")
    refused = await client.options("/api/v1/tenants", headers=asked)
    assert refused.status_code == 400
    codes = [p["code"] for p in refused.json()["error"]["details"]["problems"]]
    assert codes == ["origin_not_allowed", "method_not_allowed", "header_not_allowed"]


async def test_an_allowed_preflight_is_unchanged(client: httpx.AsyncClient) -> None:
    allowed = await client.options(
        "/api/v1/tenants", headers=_preflight(ALLOWED, headers="Authorization, Content-Type")
    )
    assert allowed.status_code == 200, allowed.text
    assert allowed.headers["access-control-allow-origin"] == ALLOWED
    assert "POST" in allowed.headers["access-control-allow-methods"]


async def test_an_actual_request_exposes_location_etag_and_retry_after(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    response = await client.get("/api/v1/metrics", headers={**tenant.headers, "Origin": ALLOWED})
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == ALLOWED
    exposed = {name.strip().lower() for name in response.headers["access-control-expose-headers"].split(",")}
    assert {"location", "etag", "retry-after", "x-request-id"} <= exposed
    foreign = await client.get(
        "/api/v1/metrics", headers={**tenant.headers, "Origin": "https://evil.example"}
    )
    assert "access-control-allow-origin" not in foreign.headers  # the browser hides the response
