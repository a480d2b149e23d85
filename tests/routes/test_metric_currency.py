"""Rollups of money metrics through the API: the reporting currency, a point's own currency,
explicit targets, missing rates and mixed currencies; metrics that need no conversion unchanged.

Rates are powers of two, so every converted sum is exact and compared with ``==``.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.factories import TenantContext, create_tenant, problem_context

RATES = "/api/v1/exchange-rates"


def point(day: int, value: float, currency: str | None = None, hour: int = 12) -> dict[str, Any]:
    dimensions = {"currency": currency} if currency else {}
    ts = f"2026-03-0{day}T{hour:02d}:00:00Z"
    return {"metric": "revenue", "ts": ts, "value": value, "dimensions": dimensions}


async def ingest(client: httpx.AsyncClient, tenant: TenantContext, points: list[dict[str, Any]]) -> None:
    response = await client.post("/api/v1/metrics", headers=tenant.headers, json={"points": points})
    assert response.status_code == 200, response.text


async def define(client: httpx.AsyncClient, tenant: TenantContext, metric: str, **fields: Any) -> None:
    response = await client.put(f"/api/v1/metrics/{metric}", headers=tenant.headers, json=fields)
    assert response.status_code == 200, response.text


async def daily(
    client: httpx.AsyncClient, tenant: TenantContext, metric: str = "revenue", **params: Any
) -> httpx.Response:
    return await client.get(
        f"/api/v1/metrics/{metric}",
        headers=tenant.headers,
        params={"bucket": "day", "agg": "sum", "tz": "UTC", **params},
    )


def values(body: dict[str, Any]) -> list[tuple[str, float, int]]:
    return [(p["ts"][:10], p["value"], p["count"]) for s in body["series"] for p in s["points"]]


async def report_in(client: httpx.AsyncClient, tenant: TenantContext, currency: str | None) -> None:
    response = await client.patch(
        "/api/v1/tenants/me", headers=tenant.headers, json={"reporting_currency": currency}
    )
    assert response.status_code == 200, response.text


async def test_rollups_convert_each_point_at_its_days_rate(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await define(client, tenant, "revenue", currency="USD")
    # A USD metric with a EUR store: its points say so in a `currency` dimension.
    await ingest(client, tenant, [point(2, 10.0), point(2, 8.0, "EUR"), point(3, 1.0), point(3, 4.0, "EUR")])

    missing = await daily(client, tenant)
    assert missing.status_code == 422, missing.text
    error = missing.json()["error"]
    assert error["code"] == "missing_exchange_rate"
    assert problem_context(error) == {"base": "EUR", "quote": "USD", "day": "2026-03-02", "fallback_days": 7}

    loaded = await client.post(
        RATES,
        headers=tenant.headers,
        json={
            "rates": [
                {"day": "2026-03-02", "base": "EUR", "quote": "USD", "rate": 2.0},
                {"day": "2026-03-03", "base": "EUR", "quote": "USD", "rate": 4.0},
            ]
        },
    )
    assert loaded.status_code == 200, loaded.text

    in_usd = await daily(client, tenant)
    assert in_usd.status_code == 200, in_usd.text
    body = in_usd.json()
    # 10 + 8 x 2 = 26 on the 2nd; 1 + 4 x 4 = 17 on the 3rd.
    assert values(body) == [("2026-03-02", 26.0, 2), ("2026-03-03", 17.0, 2)]
    assert (body["currency"], body["converted"]) == ("USD", True)

    # The tenant reports in EUR: the USD points turn at the inverse rates (0.5, 0.25).
    await report_in(client, tenant, "EUR")
    body = (await daily(client, tenant)).json()
    assert values(body) == [("2026-03-02", 13.0, 2), ("2026-03-03", 4.25, 2)]
    assert (body["currency"], body["converted"]) == ("EUR", True)
    weekly = (await daily(client, tenant, bucket="week")).json()
    assert values(weekly) == [("2026-03-02", 17.25, 4)]

    # An explicit target wins over the reporting currency.
    body = (await daily(client, tenant, currency="USD")).json()
    assert values(body) == [("2026-03-02", 26.0, 2), ("2026-03-03", 17.0, 2)]
    assert body["currency"] == "USD"
    # A day without any rate in the 7 before it is refused, never guessed.
    late = await ingest_late_and_read(client, tenant)
    assert late.status_code == 422
    assert late.json()["error"]["code"] == "missing_exchange_rate"
    assert late.json()["error"]["details"]["problems"][0]["day"] == "2026-03-15"


async def ingest_late_and_read(client: httpx.AsyncClient, tenant: TenantContext) -> httpx.Response:
    await ingest(client, tenant, [{**point(2, 3.0), "ts": "2026-03-15T12:00:00Z"}])
    return await daily(client, tenant)


async def test_a_bad_target_currency_is_a_422_and_changes_nothing(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await define(client, tenant, "revenue", currency="USD")
    await ingest(client, tenant, [point(2, 10.0)])
    for bad in ("usd", "US", "ABC", "USDX"):
        response = await daily(client, tenant, currency=bad)
        assert response.status_code == 422, (bad, response.text)
        assert set(response.json()["error"]) == {"code", "message", "details"}
    body = (await daily(client, tenant)).json()
    assert values(body) == [("2026-03-02", 10.0, 1)]


async def test_points_in_two_currencies_without_a_target_are_never_added(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await ingest(client, tenant, [point(2, 10.0, "USD"), point(2, 8.0, "EUR")])
    response = await daily(client, tenant)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "mixed_currencies"
    assert problem_context(response.json()["error"]) == {"currencies": ["EUR", "USD"]}


async def test_metrics_needing_no_conversion_read_as_before(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await define(client, tenant, "revenue", currency="USD")
    await ingest(client, tenant, [point(2, 10.0), point(2, 2.5, hour=13), point(3, 1.0)])
    await ingest(client, tenant, [{"metric": "orders", "ts": "2026-03-02T12:00:00Z", "value": 3.0}])
    body = (await daily(client, tenant)).json()
    assert values(body) == [("2026-03-02", 12.5, 2), ("2026-03-03", 1.0, 1)]
    assert (body["currency"], body["converted"]) == ("USD", False)
    # Reporting in the metric's own currency converts nothing; a metric that is not money
    # ignores the reporting currency.
    await report_in(client, tenant, "USD")
    assert (await daily(client, tenant)).json() == body
    await report_in(client, tenant, "EUR")
    orders = (await daily(client, tenant, "orders")).json()
    assert values(orders) == [("2026-03-02", 3.0, 1)]
    assert (orders["currency"], orders["converted"]) == (None, False)
    # Raw points say the definition's currency too.
    raw = (await client.get("/api/v1/metrics/revenue", headers=tenant.headers)).json()
    assert (raw["currency"], raw["converted"]) == ("USD", False)


async def test_converted_rollups_fill_gaps_group_and_page_like_plain_ones(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await define(client, tenant, "revenue", currency="USD")
    eur = {**point(4, 3.0, "EUR"), "dimensions": {"currency": "EUR", "store": "b"}}
    await ingest(client, tenant, [{**point(2, 10.0), "dimensions": {"store": "a"}}, eur])
    loaded = await client.post(
        RATES,
        headers=tenant.headers,
        json={"rates": [{"day": "2026-03-04", "base": "EUR", "quote": "USD", "rate": 2.0}]},
    )
    assert loaded.status_code == 200, loaded.text
    body = (await daily(client, tenant, fill="zero")).json()
    assert values(body) == [("2026-03-02", 10.0, 1), ("2026-03-03", 0.0, 0), ("2026-03-04", 6.0, 1)]
    assert (body["total"], body["converted"]) == (3, True)
    grouped = (await daily(client, tenant, group_by="store", limit=1, offset=1)).json()
    assert grouped["total"] == 2
    assert [(s["group"], [p["value"] for p in s["points"]]) for s in grouped["series"]] == [("b", [6.0])]
