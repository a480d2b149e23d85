"""Stripe: balance transactions → daily revenue, refunds, fees and order counts per currency.

Uses the documented list endpoint ``GET /v1/balance_transactions`` with ``limit``,
``starting_after`` pagination and the ``created[gte]`` filter. Balance transactions are
immutable, so a day's totals are exact once all its transactions are read: the cursor
keeps the start of the last day seen and the next sync re-reads from there, recomputing
that (possibly partial) day whole and adding the newer ones.

- revenue: ``charge`` and ``payment`` amounts; orders: their count
- refunds: ``refund`` and ``payment_refund`` amounts (positive numbers)
- fees: Stripe fees of every transaction
Amounts are in major units (``amount / 100`` except for zero-decimal currencies).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import Field

from backend.services.connectors.base import (
    Check,
    ConfigModel,
    ConnectorType,
    SyncContext,
    SyncOutcome,
)
from backend.services.connectors.http import ConnectorError
from backend.services.connectors.types.daily import DailyTotals, day_start

# Stripe's zero-decimal currencies (https://docs.stripe.com/currencies#zero-decimal).
ZERO_DECIMAL = frozenset(
    [
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    ]
)
SALE_TYPES = frozenset({"charge", "payment"})
REFUND_TYPES = frozenset({"refund", "payment_refund"})


class StripeConfig(ConfigModel):
    api_base: str = Field(default="https://api.stripe.com", description="Stripe API base URL.")
    page_size: int = Field(
        default=100, ge=1, le=100, description="Transactions per request (Stripe allows 100)."
    )


class StripeCredentials(ConfigModel):
    secret_key: str = Field(
        min_length=8, description="A secret (sk_…) or restricted (rk_…) key with read access."
    )


def _major(amount: int, currency: str) -> float:
    return float(amount) if currency in ZERO_DECIMAL else amount / 100


class StripeConnector(ConnectorType):
    name = "stripe"
    title = "Stripe"
    description = "Daily revenue, refunds, fees and order counts from Stripe balance transactions."
    config_model = StripeConfig
    credentials_model = StripeCredentials

    def _headers(self, context: SyncContext) -> dict[str, str]:
        return {"Authorization": f"Bearer {context.credentials.secret_key}"}

    def _url(self, context: SyncContext) -> str:
        return str(context.config.api_base).rstrip("/") + "/v1/balance_transactions"

    async def test(self, context: SyncContext) -> list[Check]:
        response = await context.http.get(
            self._url(context), params={"limit": 1}, headers=self._headers(context)
        )
        body = response.json()
        ok = body.get("object") == "list"
        return [
            Check("authenticated", True, "Stripe accepted the key"),
            Check("balance_transactions", ok, "listing works" if ok else "unexpected response shape"),
        ]

    async def sync(self, context: SyncContext, cursor: dict[str, Any]) -> SyncOutcome:
        params: dict[str, Any] = {"limit": context.config.page_size}
        if cursor.get("created_gte") is not None:
            params["created[gte]"] = int(cursor["created_gte"])
        totals = DailyTotals()
        records = pages = 0
        latest: int | None = None
        while True:
            response = await context.http.get(
                self._url(context), params=params, headers=self._headers(context)
            )
            body = response.json()
            data = body.get("data")
            if body.get("object") != "list" or not isinstance(data, list):
                raise ConnectorError("Stripe returned an unexpected response", code="unexpected_response")
            pages += 1
            for txn in data:
                records += 1
                created, currency = int(txn["created"]), str(txn.get("currency", "")).lower()
                latest = created if latest is None else max(latest, created)
                day = day_start(datetime.fromtimestamp(created, UTC), context.zone)
                kind = txn.get("type")
                amount = _major(int(txn.get("amount", 0)), currency)
                fee = _major(int(txn.get("fee", 0)), currency)
                sums: dict[str, float] = {"fees": fee}
                if kind in SALE_TYPES:
                    sums.update(revenue=amount, orders=1)
                elif kind in REFUND_TYPES:
                    sums.update(refunds=-amount)
                totals.add(day, {"currency": currency}, **sums)
            await context.report(min(90, 5 + pages), f"read {records} balance transactions")
            if not body.get("has_more") or not data:
                break
            if pages >= context.settings.max_pages:
                raise ConnectorError("stopped after CONNECTOR_MAX_PAGES pages", code="too_many_pages")
            params["starting_after"] = data[-1]["id"]
        new_cursor = dict(cursor)
        if latest is not None:
            new_cursor["created_gte"] = int(
                day_start(datetime.fromtimestamp(latest, UTC), context.zone).timestamp()
            )
        return SyncOutcome(points=totals.points(), cursor=new_cursor, records_read=records)
