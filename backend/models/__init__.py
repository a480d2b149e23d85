"""SQLAlchemy models, one module per aggregate; importing this registers them all."""

from backend.models.alert import (
    Alert,
    AlertChannel,
    AlertDelivery,
    AlertDeliveryAttempt,
    AlertRule,
    AlertRuleChannel,
)
from backend.models.base import Base
from backend.models.benchmark import ExternalBenchmark
from backend.models.calendar_event import CalendarEvent
from backend.models.coaching import EMBEDDING_DIMENSIONS, CoachingMessage, CoachingSession
from backend.models.connector import ConnectorSync
from backend.models.credential import ApiKey, RefreshToken
from backend.models.data_source import DataSource
from backend.models.evidence import EvidenceEdge
from backend.models.exchange_rate import ExchangeRate
from backend.models.forecast import Forecast
from backend.models.goal import GoalStatus, GoalStatusChange, SmartGoal
from backend.models.insight import DigestSubscription, Insight, InsightState, MetricFollow
from backend.models.job import BackgroundJob
from backend.models.llm_usage import LlmUsage
from backend.models.marketing_mix import MarketingMixModel
from backend.models.metric import BusinessMetric, MetricDefinition
from backend.models.metric_upload import MetricUpload
from backend.models.optimization import OptimizationRun
from backend.models.rate_limit import RateLimitBackoff, RateLimitCounter
from backend.models.tenant import Tenant
from backend.models.user import Role, User

__all__ = [
    "EMBEDDING_DIMENSIONS",
    "Alert",
    "AlertChannel",
    "AlertDelivery",
    "AlertDeliveryAttempt",
    "AlertRule",
    "AlertRuleChannel",
    "ApiKey",
    "BackgroundJob",
    "Base",
    "BusinessMetric",
    "CalendarEvent",
    "CoachingMessage",
    "CoachingSession",
    "ConnectorSync",
    "DataSource",
    "DigestSubscription",
    "EvidenceEdge",
    "ExchangeRate",
    "ExternalBenchmark",
    "Forecast",
    "GoalStatus",
    "GoalStatusChange",
    "Insight",
    "InsightState",
    "LlmUsage",
    "MarketingMixModel",
    "MetricDefinition",
    "MetricFollow",
    "MetricUpload",
    "OptimizationRun",
    "RateLimitBackoff",
    "RateLimitCounter",
    "RefreshToken",
    "Role",
    "SmartGoal",
    "Tenant",
    "User",
]

# Tables without tenant_id on purpose; every other table is tenant-scoped under RLS.
GLOBAL_TABLES = frozenset({"tenants", "external_benchmarks", "rate_limit_counters", "rate_limit_backoff"})
