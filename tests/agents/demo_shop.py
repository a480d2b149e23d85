"""The demo shop (``backend.demo``) loaded into a fresh tenant through the API, for the coach's tests.

The same steps as ``make demo`` (metric definitions, the POS export uploaded to a file data
source, ad spend and footfall batches, the two goals), over an in-process client.
"""

from __future__ import annotations

from datetime import date

import httpx

from backend.demo.builder import DATA_SOURCE, DEMO_TIMEZONE, demo_goals
from backend.demo.shop import METRIC_DEFINITIONS, DemoShop, build_shop
from tests.factories import TenantContext, create_tenant


def _ok(response: httpx.Response) -> dict[str, object]:
    assert response.status_code in (200, 201), response.text
    body: dict[str, object] = response.json()
    return body


async def load_demo_shop(
    client: httpx.AsyncClient, end: date, *, seed: int = 21
) -> tuple[TenantContext, DemoShop]:
    """A new tenant holding the demo shop whose data ends on ``end`` (inclusive)."""
    shop = build_shop(end, seed=seed)
    tenant = await create_tenant(client, name="Demo shop")
    headers = tenant.headers
    _ok(
        await client.patch(
            "/api/v1/tenants/me", headers=headers, json={"timezone": DEMO_TIMEZONE, "currency": "USD"}
        )
    )
    for name, definition in METRIC_DEFINITIONS.items():
        _ok(await client.put(f"/api/v1/metrics/{name}", headers=headers, json=definition))
    source = _ok(
        await client.post(
            "/api/v1/data-sources",
            headers=headers,
            json={"name": DATA_SOURCE, "connector_type": "file", "config": {"layout": "wide"}},
        )
    )
    files = {"file": ("pos-export.csv", shop.pos_csv.encode(), "text/csv")}
    _ok(await client.post(f"/api/v1/data-sources/{source['id']}/upload", headers=headers, files=files))
    for source_name, points in (("ads_manager", shop.ad_points), ("door_counter", shop.footfall_points)):
        _ok(
            await client.post(
                "/api/v1/metrics", headers=headers, json={"points": points, "source": source_name}
            )
        )
    for goal in demo_goals(shop):
        _ok(await client.post("/api/v1/goals", headers=headers, json=goal))
    return tenant, shop
