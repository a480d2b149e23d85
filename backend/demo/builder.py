"""``python -m backend.cli demo``: build the demo shop through the running API, over HTTP.

Nothing is written by SQL: the builder signs up a tenant, sets its time zone, declares the
metrics, creates a file data source and uploads the POS export to it, sends the ad spend and
footfall as JSON batches and creates two goals, exactly as a client of the API would: about
fifteen requests in all (the points go in bulk, not one per request).

A second run with the same email and password finds the shop (sign-in works and its last
step, the goals, is done) and changes nothing; a run that stopped midway is
completed (every step is idempotent: the same points again, existing goals and source kept).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from backend.demo.shop import METRIC_DEFINITIONS, DemoShop, build_shop

DEMO_EMAIL = "owner@demo-shop.example.com"
# A demo credential for a development server, printed on purpose; never a production secret.
DEMO_PASSWORD = "demo-shop-password"  # noqa: S105
DEMO_TENANT = "Riverside Goods (demo)"
DEMO_TIMEZONE = "America/New_York"
DATA_SOURCE = "POS export"


class DemoError(Exception):
    """The demo could not be built; the message says which step failed and why."""


@dataclass(frozen=True)
class DemoResult:
    base_url: str
    email: str
    password: str
    tenant_id: str
    tenant_name: str
    created: bool  # False: the shop was there already
    points: int
    shop: DemoShop


def _check(response: httpx.Response, step: str, *ok: int) -> dict[str, Any]:
    if response.status_code not in (ok or (200, 201)):
        raise DemoError(f"{step}: HTTP {response.status_code} {response.text[:500]}")
    body: dict[str, Any] = response.json() if response.content else {}
    return body


class _Builder:
    def __init__(self, http: httpx.Client, email: str, password: str, say: Callable[[str], None]) -> None:
        self.http = http
        self.email = email
        self.password = password
        self.started = time.monotonic()
        self._say = say

    def say(self, step: str) -> None:
        self._say(f"[{time.monotonic() - self.started:6.1f}s] {step}")

    def sign_in(self) -> bool:
        """True when the account exists (and the client now carries its token)."""
        response = self.http.post("/api/v1/auth/login", json={"email": self.email, "password": self.password})
        if response.status_code == 401:
            return False
        self._use(_check(response, "sign in")["access_token"])
        return True

    def _use(self, token: str) -> None:
        self.http.headers["Authorization"] = f"Bearer {token}"

    def sign_up(self) -> None:
        body = {
            "name": DEMO_TENANT,
            "owner_email": self.email,
            "owner_password": self.password,
            "owner_name": "Demo Owner",
        }
        created = _check(self.http.post("/api/v1/tenants", json=body), "sign up")
        self._use(created["tokens"]["access_token"])

    def is_complete(self) -> bool:
        """The last step (the goals) is done: so is everything before it."""
        listed = _check(self.http.get("/api/v1/goals", params={"limit": 200}), "list goals")
        return {goal["title"] for goal in _goals(date.min)} <= {item["title"] for item in listed["items"]}

    def tenant(self) -> dict[str, Any]:
        return _check(self.http.get("/api/v1/tenants/me"), "read the tenant")

    def load(self, shop: DemoShop) -> None:
        settings = {"timezone": DEMO_TIMEZONE, "currency": "USD", "industry": "retail"}
        _check(self.http.patch("/api/v1/tenants/me", json=settings), "set the time zone")
        self.say("declaring the metrics")
        for name, definition in METRIC_DEFINITIONS.items():
            _check(self.http.put(f"/api/v1/metrics/{name}", json=definition), f"declare {name}")
        source_id = self._data_source()
        self.say(f"uploading the POS export to the {DATA_SOURCE!r} data source")
        files = {"file": ("pos-export.csv", shop.pos_csv.encode(), "text/csv")}
        sync = _check(self.http.post(f"/api/v1/data-sources/{source_id}/upload", files=files), "upload POS")
        if sync.get("status") not in (None, "succeeded", "success", "completed"):
            raise DemoError(f"upload POS: the sync ended {sync.get('status')!r}: {sync.get('error')}")
        batches = (("ads_manager", shop.ad_points), ("door_counter", shop.footfall_points))
        for source, points in batches:
            self.say(f"sending {len(points):,} points from {source}")
            _check(self.http.post("/api/v1/metrics", json={"points": points, "source": source}), source)
        self.say("creating the goals")
        self._goals(shop)

    def _data_source(self) -> str:
        listed = _check(self.http.get("/api/v1/data-sources", params={"limit": 200}), "list data sources")
        for item in listed["items"]:
            if item["name"] == DATA_SOURCE:
                return str(item["id"])
        body = {"name": DATA_SOURCE, "connector_type": "file", "config": {"layout": "wide"}}
        return str(_check(self.http.post("/api/v1/data-sources", json=body), "create the data source")["id"])

    def _goals(self, shop: DemoShop) -> None:
        existing = _check(self.http.get("/api/v1/goals", params={"limit": 200}), "list goals")
        titles = {item["title"] for item in existing["items"]}
        for goal in demo_goals(shop):
            if goal["title"] not in titles:
                _check(self.http.post("/api/v1/goals", json=goal), f"create goal {goal['title']!r}")


def _goals(end: date, last_month_revenue: float = 0.0) -> list[dict[str, Any]]:
    deadline = (end + timedelta(days=120)).isoformat()
    return [
        {
            "title": "Grow monthly revenue by 10%",
            "metric": "revenue",
            "target_value": round(last_month_revenue * 1.1, -2),
            "period": "month",
            "deadline": deadline,
        },
        {
            "title": "Keep monthly search spend under $9,000",
            "metric": "ad_spend_search",
            "target_value": 9000,
            "period": "month",
            "direction": "decrease",
            "deadline": deadline,
        },
    ]


def demo_goals(shop: DemoShop) -> list[dict[str, Any]]:
    """The goals the builder creates for ``shop``."""
    return _goals(shop.end, _last_month_revenue(shop))


def _last_month_revenue(shop: DemoShop) -> float:
    """Revenue of the last complete calendar month of the data (all stores and channels)."""
    first_of_end_month = shop.end.replace(day=1)
    last_month_start = (first_of_end_month - timedelta(days=1)).replace(day=1)
    total = 0.0
    for line in shop.pos_csv.splitlines()[1:]:
        day, _store, _channel, revenue, _orders = line.split(",")
        if last_month_start.isoformat() <= day < first_of_end_month.isoformat():
            total += float(revenue)
    return total


def build_demo(
    base_url: str,
    *,
    email: str = DEMO_EMAIL,
    password: str = DEMO_PASSWORD,
    end: date | None = None,
    seed: int = 21,
    timeout: float = 300.0,
    say: Callable[[str], None] = lambda _line: None,
) -> DemoResult:
    """Create (or find) the demo shop on the API at ``base_url``; data ends yesterday unless ``end``."""
    day = end or (datetime.now(ZoneInfo(DEMO_TIMEZONE)).date() - timedelta(days=1))
    shop = build_shop(day, seed=seed)
    with httpx.Client(base_url=base_url, timeout=timeout) as http:
        try:
            _check(http.get("/api/health"), "reach the API")
        except httpx.HTTPError as error:
            raise DemoError(
                f"cannot reach the API at {base_url} ({error}); start it with `make dev`"
            ) from error
        builder = _Builder(http, email, password, say)
        existed = builder.sign_in()
        if not existed:
            builder.sign_up()
        complete = existed and builder.is_complete()
        if not complete:
            builder.load(shop)
        tenant = builder.tenant()
    return DemoResult(
        base_url=base_url,
        email=email,
        password=password,
        tenant_id=str(tenant["id"]),
        tenant_name=str(tenant["name"]),
        created=not complete,
        points=shop.point_count,
        shop=shop,
    )


def report(result: DemoResult) -> str:
    """What the command prints: the credentials, what is in the shop, and what to try next."""
    shop = result.shop
    state = "created" if result.created else "already there (nothing changed)"
    events = "\n".join(
        f"    - {event.name}: {event.start.isoformat()} for {event.days} days ({event.description})"
        for event in shop.events
    )
    login = f'{{"email": "{result.email}", "password": "{result.password}"}}'
    return f"""Demo shop {state}: {result.tenant_name}
  email:     {result.email}
  password:  {result.password}
  tenant:    {result.tenant_id}

  {result.points:,} daily points from {shop.start.isoformat()} to {shop.end.isoformat()} ({DEMO_TIMEZONE}):
    revenue, orders (store x channel), footfall (store), ad_spend_search/social/email
  a data source ({DATA_SOURCE!r}) and two goals
  planted events:
{events}

Next steps:
  Swagger UI: {result.base_url}/docs (Authorize with the email and password above)
  export TOKEN=$(curl -s -X POST {result.base_url}/api/v1/auth/login -H "Content-Type: application/json" \\
    -d '{login}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  then follow "Try it with curl" in README.md.
"""
