"""Plain factory functions for tests (no magic): tenants, users, tokens through the API."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx

DEFAULT_PASSWORD = "correct-horse-battery-staple"


@dataclass
class TenantContext:
    tenant_id: uuid.UUID
    owner_id: uuid.UUID
    email: str
    password: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def expect_json(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    """The JSON object a response answered with ``status`` (the test fails on any other)."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def unique_email(prefix: str = "owner") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


async def create_tenant(
    client: httpx.AsyncClient, *, name: str = "Test Co", password: str = DEFAULT_PASSWORD
) -> TenantContext:
    email = unique_email()
    response = await client.post(
        "/api/v1/tenants", json={"name": name, "owner_email": email, "owner_password": password}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return TenantContext(
        tenant_id=uuid.UUID(body["tenant"]["id"]),
        owner_id=uuid.UUID(body["owner"]["id"]),
        email=email,
        password=password,
        access_token=body["tokens"]["access_token"],
        refresh_token=body["tokens"]["refresh_token"],
    )


async def create_tenant_in_zone(client: httpx.AsyncClient, timezone: str) -> TenantContext:
    """A new tenant whose owner set its IANA time zone (its days, buckets and mornings) to ``timezone``."""
    tenant = await create_tenant(client)
    changed = await client.patch("/api/v1/tenants/me", headers=tenant.headers, json={"timezone": timezone})
    assert changed.status_code == 200, changed.text
    return tenant


async def login(client: httpx.AsyncClient, email: str, password: str) -> dict[str, str]:
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return response.json()


async def invite_and_activate(
    client: httpx.AsyncClient, tenant: TenantContext, *, role: str, password: str = DEFAULT_PASSWORD
) -> tuple[uuid.UUID, dict[str, str]]:
    """A new user of ``tenant`` with ``role``, activated; returns its id and auth headers."""
    invited = await client.post(
        "/api/v1/users", headers=tenant.headers, json={"email": unique_email(role), "role": role}
    )
    assert invited.status_code == 201, invited.text
    body = invited.json()
    activated = await client.post(
        "/api/v1/auth/activate", json={"token": body["activation_token"], "password": password}
    )
    assert activated.status_code == 200, activated.text
    return uuid.UUID(body["user"]["id"]), {"Authorization": f"Bearer {activated.json()['access_token']}"}


async def create_goal(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    *,
    target_value: float,
    baseline_value: float | None = None,
    days: int = 90,
    metric: str = "revenue",
    direction: str = "increase",
    **fields: Any,
) -> dict[str, Any]:
    """A goal on ``metric`` due in ``days`` (without ``baseline_value``, the API computes it from the
    metric's data; ``fields``: the request's other fields, e.g. ``period``); returns the created goal."""
    deadline = (date.today() + timedelta(days=days)).isoformat()
    body = {
        "title": f"{metric} to {target_value:g}",
        "metric": metric,
        "target_value": target_value,
        "direction": direction,
        "deadline": deadline,
        **fields,
    }
    if baseline_value is not None:
        body["baseline_value"] = baseline_value
    return expect_json(await client.post("/api/v1/goals", headers=headers, json=body), 201)


async def create_forecast(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    """A forecast made and stored from the request ``body`` (metric, horizon, frequency, …)."""
    return expect_json(await client.post("/api/v1/forecasts", headers=headers, json=body), 201)


def problem_context(error: dict[str, Any]) -> dict[str, Any]:
    """The one problem of an error envelope's ``error`` (or a job's ``error``), without its code and
    message: the context the error was raised with (``field``, limits, ids)."""
    (problem,) = error["details"]["problems"]
    return {key: value for key, value in problem.items() if key not in ("code", "message")}


def problem_locations(error: dict[str, Any]) -> list[list[str]]:
    """Each problem of a request-validation error as pydantic's ``loc``: its location, then the
    parts of its dotted field (``body`` + ``points.0.ts`` -> ``["body", "points", "0", "ts"]``)."""
    return [
        [problem["location"], *problem["field"].split(".")] if problem.get("field") else [problem["location"]]
        for problem in error["details"]["problems"]
    ]
