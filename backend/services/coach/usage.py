"""Usage accounting: every LLM call becomes an ``llm_usage`` row and Prometheus samples; the spend report."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import LlmSettings, ModelPrice
from backend.services.coach import repository
from backend.services.coach.costs import cost_dollars
from backend.services.coach.providers.base import ChatResult, EmbeddingResult, TokenUsage
from backend.services.coach.repository import UsageBucket
from backend.services.errors import ValidationFailed
from backend.utils.database import Database
from backend.utils.prometheus import LLM_COST_DOLLARS, LLM_REQUEST_DURATION, LLM_REQUESTS, LLM_TOKENS

logger = structlog.get_logger(__name__)

TENANT_BUDGET_KEY = "llm_monthly_budget_dollars"
TENANT_CLOUD_KEY = "cloud_llm"
MAX_REPORT_DAYS = 366


@dataclass(frozen=True)
class LlmCall:
    """One call to a provider as accounting sees it."""

    provider: str
    model: str
    is_local: bool
    latency_seconds: float
    outcome: str
    usage: TokenUsage | None = None

    @classmethod
    def succeeded(cls, result: ChatResult | EmbeddingResult, *, is_local: bool) -> LlmCall:
        """A call that answered: its provider, model, usage and latency as the result reports them."""
        return cls(result.provider, result.model, is_local, result.latency_seconds, "success", result.usage)


class UsageRecorder:
    """Writes one usage row per call in its own tenant unit of work, so spend is counted even
    when the request that made the call later fails, and updates the Prometheus series."""

    def __init__(self, database: Database, prices: Mapping[str, ModelPrice]) -> None:
        self._database = database
        self._prices = prices

    async def record(self, tenant_id: uuid.UUID, llm_call: LlmCall) -> float:
        """Record a call; returns its cost in dollars. A failed call has no usage and costs nothing."""
        usage = llm_call.usage or TokenUsage(0, 0)
        cost = cost_dollars(self._prices, model=llm_call.model, is_local=llm_call.is_local, usage=usage)
        labels = {"provider": llm_call.provider, "model": llm_call.model}
        LLM_REQUESTS.labels(**labels, outcome=llm_call.outcome).inc()
        LLM_REQUEST_DURATION.labels(**labels).observe(llm_call.latency_seconds)
        LLM_TOKENS.labels(**labels, direction="in").inc(usage.tokens_in)
        LLM_TOKENS.labels(**labels, direction="out").inc(usage.tokens_out)
        LLM_COST_DOLLARS.labels(**labels).inc(cost)
        call: dict[str, Any] = {
            **labels,
            "outcome": llm_call.outcome,
            "tokens_in": usage.tokens_in,
            "tokens_out": usage.tokens_out,
            "tokens_estimated": usage.estimated,
            "cost_dollars": cost,
            "latency_ms": round(llm_call.latency_seconds * 1000),
        }
        async with self._database.tenant_session(tenant_id) as session:
            await repository.add_usage(session, **call)
        logger.info("llm_call", **call)
        return cost


@dataclass(frozen=True)
class TenantLlmPolicy:
    """What the router needs to know about a tenant this month."""

    cloud_allowed: bool
    monthly_budget_dollars: float
    month_spend_dollars: float
    local_calls: int
    total_calls: int

    @property
    def over_budget(self) -> bool:
        return self.month_spend_dollars >= self.monthly_budget_dollars

    @property
    def local_share(self) -> float | None:
        return self.local_calls / self.total_calls if self.total_calls else None


def month_start(now: datetime, timezone: str) -> datetime:
    """Midnight on the first of ``now``'s month in the tenant's time zone."""
    local = now.astimezone(ZoneInfo(timezone))
    return datetime.combine(local.date().replace(day=1), time(), tzinfo=ZoneInfo(timezone))


def tenant_budget(settings: LlmSettings, tenant_settings: Mapping[str, Any]) -> float:
    value = tenant_settings.get(TENANT_BUDGET_KEY)
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return settings.monthly_budget_dollars


def cloud_allowed(tenant_settings: Mapping[str, Any]) -> bool:
    """Cloud LLMs are allowed unless the tenant set ``{"cloud_llm": false}``."""
    return tenant_settings.get(TENANT_CLOUD_KEY) is not False


async def tenant_policy(session: AsyncSession, settings: LlmSettings, now: datetime) -> TenantLlmPolicy:
    tenant = await repository.tenant_llm_row(session)
    month = await repository.usage_since(session, month_start(now, tenant.timezone))
    return TenantLlmPolicy(
        cloud_allowed=cloud_allowed(tenant.settings),
        monthly_budget_dollars=tenant_budget(settings, tenant.settings),
        month_spend_dollars=month.spend_dollars,
        local_calls=month.local_calls,
        total_calls=month.total_calls,
    )


@dataclass(frozen=True)
class UsageReport:
    start: date
    end: date
    timezone: str
    days: list[UsageBucket]
    policy: TenantLlmPolicy


async def usage_report(
    session: AsyncSession, settings: LlmSettings, *, start: date | None, end: date | None, now: datetime
) -> UsageReport:
    """Spend by day and provider for the calendar days ``start``..``end`` (inclusive, tenant time zone).

    Defaults: the current month so far.
    """
    tenant = await repository.tenant_llm_row(session)
    zone = ZoneInfo(tenant.timezone)
    today = now.astimezone(zone).date()
    end = end or today
    start = start or end.replace(day=1)
    if start > end:
        raise ValidationFailed("start must not be after end", context={"start": str(start), "end": str(end)})
    if (end - start).days + 1 > MAX_REPORT_DAYS:
        raise ValidationFailed(
            f"the range spans more than {MAX_REPORT_DAYS} days", context={"max_days": MAX_REPORT_DAYS}
        )
    days = await repository.usage_by_day(
        session,
        start=datetime.combine(start, time(), tzinfo=zone),
        end=datetime.combine(end + timedelta(days=1), time(), tzinfo=zone),
        timezone=tenant.timezone,
    )
    return UsageReport(
        start=start,
        end=end,
        timezone=tenant.timezone,
        days=days,
        policy=await tenant_policy(session, settings, now),
    )
