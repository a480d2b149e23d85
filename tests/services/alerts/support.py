"""A webhook receiver on loopback (uvicorn in a thread, real HTTP) and helpers to raise an alert.

The receiver keeps each request's headers and raw body, answers the injected status codes
first (one per request), can hold requests until released (to kill a worker mid-delivery), and
counts what it *accepted* by delivery id, as a receiver that drops repeats would.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.config import Settings
from backend.services.alerts.delivery import ALERTS_QUEUE
from backend.services.alerts.types import DELIVERY_ID_HEADER
from backend.utils.database_urls import DatabaseUrls
from tests.factories import TenantContext, create_tenant
from tests.jobs.support import fast_retry_settings, run_pending_jobs
from tests.services.connectors.fakes import serve


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    received: list[Received] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)
    hold: bool = False
    held: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    accepted: set[str] = field(default_factory=set)

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            self.received.append(Received(dict(request.headers), await request.body()))
            if self.failures:
                return JSONResponse({"error": "injected"}, status_code=self.failures.pop(0))
            if self.hold and not self.released.is_set():
                self.held.set()
                await asyncio.to_thread(self.released.wait)
                return Response(status_code=503)  # the sender is gone: this answer reaches nobody
            self.accepted.add(request.headers.get(DELIVERY_ID_HEADER, ""))
            return Response(status_code=204)

        return Starlette(routes=[Route("/hook", hook, methods=["POST"])])


def yesterday() -> datetime:
    day = datetime.now(UTC).date() - timedelta(days=1)
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


async def seed_revenue(api: httpx.AsyncClient, tenant: TenantContext, value: float = 900.0) -> None:
    """A metric with a favourable direction (the engine watches it) and a few days of points."""
    declared = await api.put(
        "/api/v1/metrics/revenue", headers=tenant.headers, json={"favourable_direction": "up"}
    )
    assert declared.status_code in (200, 201), declared.text
    points = [
        {
            "metric": "revenue",
            "ts": (yesterday() - timedelta(days=offset)).isoformat(),
            "value": value - offset,
        }
        for offset in range(5)
    ]
    response = await api.post("/api/v1/metrics", headers=tenant.headers, json={"points": points})
    assert response.status_code == 200, response.text


async def create_channel(api: httpx.AsyncClient, tenant: TenantContext, **body: Any) -> dict[str, Any]:
    body.setdefault("name", f"channel-{body['kind']}")
    response = await api.post("/api/v1/alerts/channels", headers=tenant.headers, json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def create_rule(api: httpx.AsyncClient, tenant: TenantContext, **body: Any) -> dict[str, Any]:
    body.setdefault("name", "revenue above 100")
    body.setdefault("kind", "threshold")
    if body["kind"] == "threshold":
        body.setdefault("metric", "revenue")
        body.setdefault("operator", "above")
        body.setdefault("threshold", 100)
    response = await api.post("/api/v1/alerts/rules", headers=tenant.headers, json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def run_engine(api: httpx.AsyncClient, tenant: TenantContext) -> dict[str, Any]:
    response = await api.post("/api/v1/insights/run", headers=tenant.headers)
    assert response.status_code == 200, response.text
    summary: dict[str, Any] = response.json()
    return summary


async def deliver(settings: Settings, urls: DatabaseUrls) -> None:
    """Run the waiting delivery jobs (retries wait no time) in this process."""
    await run_pending_jobs(fast_retry_settings(settings), urls, [ALERTS_QUEUE])


async def delivery_log(api: httpx.AsyncClient, tenant: TenantContext, channel_id: str) -> dict[str, Any]:
    response = await api.get(f"/api/v1/alerts/channels/{channel_id}/deliveries", headers=tenant.headers)
    assert response.status_code == 200, response.text
    log: dict[str, Any] = response.json()
    return log


@dataclass(frozen=True)
class Prepared:
    tenant: TenantContext
    channel: dict[str, Any]
    rule: dict[str, Any]


async def tenant_with_rule(api: httpx.AsyncClient, channel: dict[str, Any], **rule: Any) -> Prepared:
    """A new tenant with revenue data, the channel ``channel`` describes and a threshold rule on it
    (``rule`` overrides its fields) that yesterday's revenue crosses."""
    tenant = await create_tenant(api)
    await seed_revenue(api, tenant)
    created = await create_channel(api, tenant, **channel)
    return Prepared(tenant, created, await create_rule(api, tenant, channel_ids=[created["id"]], **rule))


@asynccontextmanager
async def webhook_rule(api: httpx.AsyncClient, receiver: Receiver, **rule: Any) -> AsyncIterator[Prepared]:
    """``receiver`` served on loopback while the block runs, and a new tenant whose threshold rule
    (``rule`` overrides its fields) alerts a webhook channel to it: see :func:`tenant_with_rule`."""
    with serve(receiver.app()) as base:
        yield await tenant_with_rule(api, {"kind": "webhook", "url": f"{base}/hook"}, **rule)
