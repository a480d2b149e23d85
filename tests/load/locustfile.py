"""Load test of the Dyocense API (locust). See tests/load/README.md for how to run it.

Each simulated user is the owner of its own business (a tenant created at start) and then
behaves like someone using the product: mostly reading rollups and goal progress, regularly
ingesting a batch of points, sometimes signing in again, running an optimizer plan and
forecasting revenue and chatting with the coach (when chat is served; point the server's
LLM at a fake or a local model — see the README).

Optional environment:
  LOAD_INGEST_BATCH   points per ingest request (default 200)
  LOAD_CHAT           "false" to leave the coach out of the mix
"""

from __future__ import annotations

import os
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from locust import HttpUser, between, events, task
from locust.env import Environment

PASSWORD = "correct-horse-battery-staple"
INGEST_BATCH = int(os.environ.get("LOAD_INGEST_BATCH", "200"))
CHAT_ENABLED = os.environ.get("LOAD_CHAT", "true").lower() != "false"
QUESTIONS = [
    "How is revenue trending this quarter?",
    "Will we reach our revenue goal?",
    "How should I split next month's ad budget?",
]
SERVED_PATHS: set[str] = set()


@events.test_start.add_listener
def discover_api(environment: Environment, **_: Any) -> None:
    """Which optional features the server has (their paths appear in its OpenAPI document)."""
    import httpx

    host = environment.host or ""
    try:
        SERVED_PATHS.update(httpx.get(f"{host}/openapi.json", timeout=30).json()["paths"])
    except (httpx.HTTPError, ValueError, KeyError):
        SERVED_PATHS.clear()


def _days_ago(days: int) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).replace(minute=0, second=0, microsecond=0).isoformat()


class BusinessOwner(HttpUser):
    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        self.email = f"load-{uuid.uuid4().hex[:12]}@example.com"
        response = self.client.post(
            "/api/v1/tenants",
            json={"name": "Load Test Co", "owner_email": self.email, "owner_password": PASSWORD},
            name="/api/v1/tenants [sign-up]",
        )
        response.raise_for_status()
        self._use_token(response.json()["tokens"]["access_token"])
        # Six months of daily history, so rollups, goals and forecasts have something to read.
        for chunk in range(0, 180, 60):
            points = [
                {"metric": metric, "ts": _days_ago(day), "value": base + random.uniform(-10, 10)}
                for day in range(chunk, chunk + 60)
                for metric, base in (("revenue", 1000.0), ("orders", 40.0), ("ad_spend", 150.0))
            ]
            self.client.post(
                "/api/v1/metrics", json={"points": points}, headers=self.headers, name="/api/v1/metrics"
            )
        deadline = (datetime.now(UTC) + timedelta(days=90)).date().isoformat()
        goal = self.client.post(
            "/api/v1/goals",
            json={
                "title": "Grow revenue",
                "metric": "revenue",
                "target_value": 1200,
                "direction": "increase",
                "deadline": deadline,
            },
            headers=self.headers,
        )
        self.goal_id = goal.json()["id"] if goal.status_code == 201 else None
        templates = self.client.get("/api/v1/optimizer/templates", headers=self.headers).json()
        self.budget_example = next(
            t["example"] for t in templates["items"] if t["name"] == "budget_allocation"
        )
        self.chat_session: str | None = None

    def _use_token(self, token: str) -> None:
        self.headers = {"Authorization": f"Bearer {token}"}

    @task(8)
    def rollup(self) -> None:
        metric = random.choice(["revenue", "orders", "ad_spend"])
        bucket = random.choice(["day", "week", "month"])
        self.client.get(
            f"/api/v1/metrics/{metric}",
            params={"bucket": bucket, "start": _days_ago(90)},
            headers=self.headers,
            name="/api/v1/metrics/{name} [rollup]",
        )

    @task(4)
    def goal_progress(self) -> None:
        if self.goal_id is not None:
            self.client.get(
                f"/api/v1/goals/{self.goal_id}/progress",
                headers=self.headers,
                name="/api/v1/goals/{id}/progress",
            )

    @task(3)
    def ingest(self) -> None:
        now = datetime.now(UTC)
        points = [
            {
                "metric": "orders",
                "ts": (now - timedelta(minutes=i)).replace(second=0, microsecond=0).isoformat(),
                "value": random.randint(0, 5),
                "dimensions": {"store": random.choice(["north", "south"])},
            }
            for i in range(INGEST_BATCH)
        ]
        self.client.post(
            "/api/v1/metrics", json={"points": points}, headers=self.headers, name="/api/v1/metrics"
        )

    @task(1)
    def sign_in(self) -> None:
        response = self.client.post(
            "/api/v1/auth/login", json={"email": self.email, "password": PASSWORD}, name="/api/v1/auth/login"
        )
        if response.status_code == 200:
            self._use_token(response.json()["access_token"])

    @task(1)
    def optimize_budget(self) -> None:
        self.client.post(
            "/api/v1/optimizer/runs",
            json={"template": "budget_allocation", "params": self.budget_example},
            headers=self.headers,
            name="/api/v1/optimizer/runs",
        )

    @task(1)
    def forecast(self) -> None:
        self.client.post(
            "/api/v1/forecasts",
            json={"metric": "revenue", "horizon": 14},
            headers=self.headers,
            name="/api/v1/forecasts",
        )

    @task(1)
    def coach_chat(self) -> None:
        if not CHAT_ENABLED or "/api/v1/coach/chat" not in SERVED_PATHS:
            return
        body: dict[str, Any] = {"message": random.choice(QUESTIONS)}
        if self.chat_session:
            body["session_id"] = self.chat_session
        response = self.client.post(
            "/api/v1/coach/chat", json=body, headers=self.headers, name="/api/v1/coach/chat"
        )
        if response.status_code == 200:
            self.chat_session = response.json().get("session_id") or self.chat_session
