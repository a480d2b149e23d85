"""``make demo``: the demo shop is built through a live API, deterministic, and built once per email."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest

from backend.demo.builder import DATA_SOURCE, DEMO_PASSWORD, DEMO_TENANT, build_demo
from backend.demo.shop import DAYS, build_shop
from backend.utils.database_urls import DatabaseUrls
from tests.live_server import REPO, live_server

END = date(2026, 11, 30)


@pytest.fixture(scope="module")
def api(database_urls: DatabaseUrls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with live_server(database_urls, tmp_path_factory.mktemp("demo-server")) as base:
        yield base


def _revenue_by_day(csv_text: str, store: str | None = None, channel: str | None = None) -> dict[str, float]:
    totals: dict[str, float] = {}
    for line in csv_text.splitlines()[1:]:
        day, row_store, row_channel, revenue, _orders = line.split(",")
        if store in (None, row_store) and channel in (None, row_channel):
            totals[day] = totals.get(day, 0.0) + float(revenue)
    return totals


def test_the_shop_is_deterministic_and_plants_its_events() -> None:
    shop = build_shop(END)
    assert build_shop(END).pos_csv == shop.pos_csv and build_shop(END).ad_points == shop.ad_points
    assert build_shop(END, seed=22).pos_csv != shop.pos_csv
    assert shop.start == END - timedelta(days=DAYS - 1)

    in_store = _revenue_by_day(shop.pos_csv, channel="in_store")
    black_fridays = {day.isoformat() for day, name in shop.holidays.items() if name == "Black Friday"}
    christmas = next(day for day, name in shop.holidays.items() if name == "Christmas Day")
    assert len(black_fridays) == 2 and max(in_store, key=in_store.__getitem__) in black_fridays
    assert in_store[christmas.isoformat()] < 0.1 * in_store[(christmas - timedelta(days=7)).isoformat()]

    sale, closure = shop.events
    riverside = _revenue_by_day(shop.pos_csv, store="riverside", channel="in_store")
    during = [riverside[(closure.start + timedelta(days=i)).isoformat()] for i in range(closure.days)]
    before = [riverside[(closure.start - timedelta(days=i)).isoformat()] for i in range(1, 29)]
    assert sum(during) / len(during) < 0.3 * sum(before) / len(before)
    total = _revenue_by_day(shop.pos_csv)
    in_sale = [total[(sale.start + timedelta(days=i)).isoformat()] for i in range(sale.days)]
    weeks_before = [total[(sale.start - timedelta(days=i)).isoformat()] for i in range(15, 29)]
    assert sum(in_sale) > 1.15 * sum(weeks_before)


def test_the_demo_is_built_through_the_api_and_a_second_run_changes_nothing(api: str, tmp_path: Path) -> None:
    email = "owner-built@demo-shop.example.com"
    result = build_demo(api, email=email, end=END, say=print)
    assert result.created

    with httpx.Client(base_url=api, timeout=60) as http:
        login = http.post("/api/v1/auth/login", json={"email": email, "password": DEMO_PASSWORD})
        assert login.status_code == 200, login.text
        http.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        names = {item["name"] for item in http.get("/api/v1/metrics").json()["items"]}
        assert {
            "revenue",
            "orders",
            "footfall",
            "ad_spend_search",
            "ad_spend_social",
            "ad_spend_email",
        } <= names
        rollup = http.get(
            "/api/v1/metrics/revenue", params={"bucket": "month", "agg": "sum", "group_by": "store"}
        ).json()
        assert {series["group"] for series in rollup["series"]} == {"downtown", "riverside"}
        assert all(len(series["points"]) >= 24 for series in rollup["series"]), rollup
        sources = http.get("/api/v1/data-sources").json()
        assert [s["name"] for s in sources["items"]] == [DATA_SOURCE]
        goals = http.get("/api/v1/goals").json()
        assert goals["total"] == 2

        # The command again, as `make demo` runs it: it finds the shop and writes nothing.
        again = subprocess.run(
            [sys.executable, "-m", "backend.cli", "demo", "--url", api, "--email", email],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert again.returncode == 0, again.stderr
        assert "already there (nothing changed)" in again.stdout
        assert email in again.stdout and DEMO_PASSWORD in again.stdout and result.tenant_id in again.stdout
        assert http.get("/api/v1/goals").json()["total"] == 2
        assert http.get("/api/v1/data-sources").json()["total"] == 1


def test_the_command_says_clearly_when_the_api_is_not_running() -> None:
    from tests.live_server import free_port

    done = subprocess.run(
        [sys.executable, "-m", "backend.cli", "demo", "--url", f"http://127.0.0.1:{free_port()}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert "cannot reach the API" in done.stderr and "make dev" in done.stderr


def test_a_run_stopped_after_sign_up_is_completed_in_the_same_tenant(api: str) -> None:
    email = "owner-partial@demo-shop.example.com"
    with httpx.Client(base_url=api, timeout=60) as http:
        # The builder's first step, then nothing: as if the command had been interrupted.
        owner = {"name": DEMO_TENANT, "owner_email": email, "owner_password": DEMO_PASSWORD}
        signup = http.post("/api/v1/tenants", json=owner)
        assert signup.status_code == 201, signup.text
        result = build_demo(api, email=email, end=END)
        assert result.created and result.tenant_id == signup.json()["tenant"]["id"]
        http.headers["Authorization"] = f"Bearer {signup.json()['tokens']['access_token']}"
        assert http.get("/api/v1/goals").json()["total"] == 2
        assert http.get("/api/v1/data-sources").json()["total"] == 1
        assert http.get("/api/v1/tenants/me").json()["timezone"] == "America/New_York"
