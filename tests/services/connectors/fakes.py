"""Fake Stripe, Shopify and generic REST servers: real HTTP on loopback (uvicorn in a thread).

Each fake keeps a request log and a queue of injected failures (status codes, optional
Retry-After) consumed one per request, and can hold a request until released (to kill a
worker mid-sync).
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Injected:
    status: int
    retry_after: str | None = None


@dataclass
class FakeState:
    requests: list[dict[str, Any]] = field(default_factory=list)
    failures: list[Injected] = field(default_factory=list)
    hold_path: str | None = None  # requests to this path wait until released
    hold_after: int = 0  # ...after this many requests to it went through
    released: threading.Event = field(default_factory=threading.Event)
    held: threading.Event = field(default_factory=threading.Event)
    # Awaited on the fake's own event loop before a paged REST request is answered (to look at
    # the syncing job from outside while it is between pages).
    on_page: Callable[[], Awaitable[None]] | None = None

    def record(self, request: Request) -> Response | None:
        self.requests.append(
            {"path": request.url.path, "params": dict(request.query_params), "headers": dict(request.headers)}
        )
        if self.failures:
            failure = self.failures.pop(0)
            headers = {"Retry-After": failure.retry_after} if failure.retry_after is not None else {}
            return JSONResponse(
                {"error": {"message": "injected failure"}}, status_code=failure.status, headers=headers
            )
        return None

    async def maybe_hold(self, request: Request) -> None:
        if self.hold_path and request.url.path == self.hold_path:
            seen = sum(1 for r in self.requests if r["path"] == self.hold_path)
            if seen > self.hold_after:
                self.held.set()
                await asyncio.to_thread(self.released.wait)


def requests_to(state: FakeState, path: str) -> list[dict[str, Any]]:
    return [r for r in state.requests if r["path"] == path]


# ----------------------------------------------------------------------------- Stripe
STRIPE_KEY = "sk_test_fake_0123456789abcdef"


def stripe_app(state: FakeState, transactions: list[dict[str, Any]]) -> Starlette:
    async def balance_transactions(request: Request) -> Response:
        injected = state.record(request)
        if injected:
            return injected
        if request.headers.get("authorization") != f"Bearer {STRIPE_KEY}":
            return JSONResponse(
                {"error": {"type": "invalid_request_error", "message": "Invalid API Key"}}, 401
            )
        await state.maybe_hold(request)
        params = request.query_params
        limit = int(params.get("limit", "10"))
        rows = sorted(transactions, key=lambda t: (t["created"], t["id"]), reverse=True)
        if "created[gte]" in params:
            rows = [t for t in rows if t["created"] >= int(params["created[gte]"])]
        if "starting_after" in params:
            ids = [t["id"] for t in rows]
            rows = rows[ids.index(params["starting_after"]) + 1 :]
        page = rows[:limit]
        return JSONResponse(
            {"object": "list", "url": "/v1/balance_transactions", "has_more": len(rows) > limit, "data": page}
        )

    return Starlette(routes=[Route("/v1/balance_transactions", balance_transactions)])


def stripe_txn(
    txn_id: str, created: datetime, kind: str, amount: int, fee: int, currency: str = "usd"
) -> dict[str, Any]:
    return {
        "id": txn_id,
        "object": "balance_transaction",
        "created": int(created.timestamp()),
        "type": kind,
        "amount": amount,
        "fee": fee,
        "net": amount - fee,
        "currency": currency,
    }


# ----------------------------------------------------------------------------- Shopify
SHOPIFY_TOKEN = "shpat_fake_0123456789"
SHOPIFY_ORDERS = "/admin/api/2025-01/orders.json"


def _iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def shopify_app(state: FakeState, orders: list[dict[str, Any]]) -> Starlette:
    async def list_orders(request: Request) -> Response:
        injected = state.record(request)
        if injected:
            return injected
        if request.headers.get("x-shopify-access-token") != SHOPIFY_TOKEN:
            return JSONResponse({"errors": "[API] Invalid API key or access token"}, 401)
        params = dict(request.query_params)
        if "page_info" in params:
            extra = set(params) - {"page_info", "limit"}
            if extra:  # Shopify refuses filters beside page_info
                return JSONResponse(
                    {"errors": {"page_info": f"cannot be combined with {sorted(extra)}"}}, 400
                )
            decoded = json.loads(base64.urlsafe_b64decode(params["page_info"]))
            filters, offset = decoded["filters"], decoded["offset"]
        else:
            filters, offset = {k: v for k, v in params.items() if k != "limit"}, 0
        limit = int(params.get("limit", "50"))
        rows = sorted(orders, key=lambda o: o["id"])
        if "updated_at_min" in filters:
            rows = [o for o in rows if _iso(o["updated_at"]) >= _iso(filters["updated_at_min"])]
        if "created_at_min" in filters:
            rows = [o for o in rows if _iso(o["created_at"]) >= _iso(filters["created_at_min"])]
        if "created_at_max" in filters:
            rows = [o for o in rows if _iso(o["created_at"]) <= _iso(filters["created_at_max"])]
        page = rows[offset : offset + limit]
        fields = filters.get("fields")
        if fields:
            page = [{k: o.get(k) for k in fields.split(",")} for o in page]
        headers = {}
        if offset + limit < len(rows):
            token = base64.urlsafe_b64encode(
                json.dumps({"filters": filters, "offset": offset + limit}).encode()
            )
            url = request.url.replace(query=f"limit={limit}&page_info={token.decode()}")
            headers["Link"] = f'<{url}>; rel="next"'
        return JSONResponse({"orders": page}, headers=headers)

    async def shop(request: Request) -> Response:
        state.record(request)
        if request.headers.get("x-shopify-access-token") != SHOPIFY_TOKEN:
            return JSONResponse({"errors": "[API] Invalid API key or access token"}, 401)
        return JSONResponse({"shop": {"name": "Fake Shop"}})

    return Starlette(routes=[Route(SHOPIFY_ORDERS, list_orders), Route("/admin/api/2025-01/shop.json", shop)])


# ----------------------------------------------------------------------------- generic REST
def rest_app(state: FakeState, records: list[dict[str, Any]], *, page_size: int = 2) -> Starlette:
    def authorized(request: Request) -> bool:
        expected = state_auth.get("expected")
        if expected is None:
            return True
        header, value = expected
        return request.headers.get(header) == value

    state_auth: dict[str, Any] = {}

    async def by_page(request: Request) -> Response:
        if state.on_page is not None:
            await state.on_page()
        injected = state.record(request)
        if injected:
            return injected
        if not authorized(request):
            return JSONResponse({"message": "unauthorized"}, 401)
        page, size = (
            int(request.query_params.get("page", "1")),
            int(request.query_params.get("per_page", "100")),
        )
        rows = _since(records, request)
        return JSONResponse({"data": {"items": rows[(page - 1) * size : page * size]}})

    async def by_offset(request: Request) -> Response:
        state.record(request)
        offset, size = (
            int(request.query_params.get("offset", "0")),
            int(request.query_params.get("limit", "100")),
        )
        return JSONResponse({"results": _since(records, request)[offset : offset + size]})

    async def by_cursor(request: Request) -> Response:
        state.record(request)
        start = int(request.query_params.get("cursor", "0"))
        rows = _since(records, request)
        nxt = start + page_size if start + page_size < len(rows) else None
        return JSONResponse({"items": rows[start : start + page_size], "meta": {"next": nxt}})

    async def by_link(request: Request) -> Response:
        state.record(request)
        start = int(request.query_params.get("start", "0"))
        rows = _since(records, request)
        headers = {}
        if start + page_size < len(rows):
            headers["Link"] = f'<{request.url.replace(query=f"start={start + page_size}")}>; rel="next"'
        return JSONResponse(rows[start : start + page_size], headers=headers)

    app = Starlette(
        routes=[
            Route("/page", by_page),
            Route("/offset", by_offset),
            Route("/cursor", by_cursor),
            Route("/link", by_link),
        ]
    )
    app.state.auth = state_auth
    return app


def _since(records: list[dict[str, Any]], request: Request) -> list[dict[str, Any]]:
    since = request.query_params.get("since")
    if since is None:
        return records
    return [r for r in records if _iso(r["day"]) > _iso(since)]


# ----------------------------------------------------------------------------- serving
@contextmanager
def serve(app: Starlette) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 on a free port in a background thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("fake server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
