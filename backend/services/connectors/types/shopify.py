"""Shopify: orders → daily revenue, order count and average order value, by sales channel.

Shopify Admin REST API ``GET /admin/api/<version>/orders.json`` with ``status=any``,
``limit=250`` and cursor pagination through the ``Link`` header (``page_info``).

Orders change after they are placed (refunds, cancellations), so a day's totals are
recomputed whole: an incremental sync lists orders *updated* since the cursor
(``updated_at_min``), collects the days those orders were *created* on, and re-reads each
of those days (``created_at_min``/``created_at_max``) to rebuild its totals. A rebuilt day
replaces the day's earlier points from this shop (``SyncOutcome.replaces``), so a deleted
order or one moved to another channel leaves nothing stale. Cancelled and test orders count
for nothing; a channel whose orders were all cancelled gets zeros.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import Field, field_validator

from backend.services.connectors.base import (
    Check,
    ConfigModel,
    ConnectorType,
    Replacement,
    SyncContext,
    SyncOutcome,
)
from backend.services.connectors.http import ConnectorError
from backend.services.connectors.mapping import parse_timestamp
from backend.services.connectors.types.daily import DailyTotals, day_start

ORDER_FIELDS = "id,created_at,updated_at,total_price,source_name,cancelled_at,test"
METRICS = ("revenue", "orders", "average_order_value")


class ShopifyConfig(ConfigModel):
    shop_domain: str = Field(
        description="The shop's myshopify.com domain, e.g. acme.myshopify.com.", max_length=255
    )
    api_version: str = Field(default="2025-01", pattern=r"^\d{4}-\d{2}$")
    page_size: int = Field(default=250, ge=1, le=250, description="Orders per request (Shopify allows 250).")
    base_url: str | None = Field(
        default=None, description="Override of https://<shop_domain> (for a proxy); normally unset."
    )

    @field_validator("shop_domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        value = value.strip().lower().removeprefix("https://").removeprefix("http://").strip("/")
        if not value or "/" in value:
            raise ValueError("shop_domain is a host name such as acme.myshopify.com")
        return value


class ShopifyCredentials(ConfigModel):
    access_token: str = Field(min_length=8, description="Admin API access token (read_orders scope).")


def _amount(value: Any) -> float:
    try:
        return float(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        return 0.0


class ShopifyConnector(ConnectorType):
    name = "shopify"
    title = "Shopify"
    description = "Daily revenue, orders and average order value by sales channel from Shopify orders."
    config_model = ShopifyConfig
    credentials_model = ShopifyCredentials

    def _base(self, context: SyncContext) -> str:
        config: ShopifyConfig = context.config
        root = (config.base_url or f"https://{config.shop_domain}").rstrip("/")
        return f"{root}/admin/api/{config.api_version}"

    def _headers(self, context: SyncContext) -> dict[str, str]:
        return {"X-Shopify-Access-Token": context.credentials.access_token}

    async def _orders(self, context: SyncContext, params: dict[str, Any]) -> Any:
        url: str | None = self._base(context) + "/orders.json"
        query: dict[str, Any] | None = {"status": "any", "limit": context.config.page_size, **params}
        pages = 0
        while url is not None:
            response = await context.http.get(url, params=query, headers=self._headers(context))
            orders = response.json().get("orders")
            if not isinstance(orders, list):
                raise ConnectorError("Shopify returned an unexpected response", code="unexpected_response")
            yield orders
            pages += 1
            if pages >= context.settings.max_pages:
                raise ConnectorError("stopped after CONNECTOR_MAX_PAGES pages", code="too_many_pages")
            next_link = response.links.get("next", {}).get("url")
            # The next link carries page_info (and limit); Shopify refuses other filters beside it.
            url, query = (str(response.request.url.join(next_link)), None) if next_link else (None, None)

    async def test(self, context: SyncContext) -> list[Check]:
        response = await context.http.get(self._base(context) + "/shop.json", headers=self._headers(context))
        shop = response.json().get("shop") or {}
        return [
            Check(
                "authenticated", True, f"connected to shop {shop.get('name') or context.config.shop_domain}"
            )
        ]

    async def sync(self, context: SyncContext, cursor: dict[str, Any]) -> SyncOutcome:
        since = cursor.get("updated_at_min")
        latest_update: datetime | None = parse_timestamp(since, context.zone) if since else None
        records = 0
        totals = DailyTotals()
        rebuilt: set[datetime] = set()
        if since is None:
            async for orders in self._orders(context, {"fields": ORDER_FIELDS}):
                records += len(orders)
                latest_update = self._add_all(orders, totals, context, latest_update)
                await context.report(50, f"read {records} orders")
        else:
            days: set[datetime] = set()
            async for orders in self._orders(
                context, {"fields": "id,created_at,updated_at", "updated_at_min": since}
            ):
                for order in orders:
                    days.add(day_start(parse_timestamp(order["created_at"], context.zone), context.zone))
                    updated = parse_timestamp(order["updated_at"], context.zone)
                    latest_update = updated if latest_update is None else max(latest_update, updated)
            rebuilt = days
            for number, day in enumerate(sorted(days), start=1):
                end = day + timedelta(days=1) - timedelta(seconds=1)
                params = {
                    "fields": ORDER_FIELDS,
                    "created_at_min": day.isoformat(),
                    "created_at_max": end.isoformat(),
                }
                async for orders in self._orders(context, params):
                    records += len(orders)
                    self._add_all(orders, totals, context, None)
                await context.report(
                    min(90, 10 + 80 * number // len(days)), f"rebuilt {number} of {len(days)} days"
                )
        new_cursor = dict(cursor)
        if latest_update is not None:
            new_cursor["updated_at_min"] = latest_update.isoformat()
        points = totals.points(ratios={"average_order_value": ("revenue", "orders")})
        replaces = [
            Replacement(METRICS, day.astimezone(UTC), (day + timedelta(days=1)).astimezone(UTC))
            for day in sorted(rebuilt)
        ]
        return SyncOutcome(points=points, cursor=new_cursor, records_read=records, replaces=replaces)

    @staticmethod
    def _add_all(
        orders: list[dict[str, Any]], totals: DailyTotals, context: SyncContext, latest: datetime | None
    ) -> datetime | None:
        for order in orders:
            day = day_start(parse_timestamp(order["created_at"], context.zone), context.zone)
            channel = str(order.get("source_name") or "unknown")[:100]
            if order.get("cancelled_at") or order.get("test"):
                totals.add(day, {"channel": channel}, revenue=0.0, orders=0.0)
            else:
                totals.add(day, {"channel": channel}, revenue=_amount(order.get("total_price")), orders=1.0)
            if order.get("updated_at"):
                updated = parse_timestamp(order["updated_at"], context.zone)
                latest = updated if latest is None else max(latest, updated)
        return latest
