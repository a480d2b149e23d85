"""The LLM router: which provider answers a request, within the tenant's budget and wishes.

1. ``complexity_score`` rates the request in [0, 1] (see its docstring for the formula).
2. ``plan_route`` turns the score and the tenant's policy into an ordered list of tiers:
   simple requests (score below ``COMPLEX_THRESHOLD``) go local first, complex ones to the
   cloud first — if the cloud is configured, allowed by the tenant (``{"cloud_llm": false}``
   in tenants.settings keeps every byte local), within the monthly budget (over budget →
   local only, and the result carries a notice saying so), and if sending this call to the
   cloud keeps the tenant's local share this month at or above ``LLM_TARGET_LOCAL_SHARE``.
3. ``LlmRouter.chat`` tries the tiers in order: a provider that errors or times out is
   recorded and the next tier answers; a provider whose circuit breaker is open is skipped.
   The offline templates are always the last tier, so a request always gets an answer.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

import structlog
from opentelemetry import trace

from backend.config import LlmSettings
from backend.services.coach.circuit import CircuitBreaker
from backend.services.coach.providers.base import (
    ChatMessage,
    ChatResult,
    DeltaSink,
    LlmProvider,
    ProviderError,
    ToolSpec,
)
from backend.services.coach.providers.offline import OfflineProvider
from backend.services.coach.usage import LlmCall, TenantLlmPolicy, UsageRecorder, tenant_policy
from backend.utils.database import Database
from backend.utils.prometheus import LLM_MONTHLY_BUDGET_DOLLARS

logger = structlog.get_logger(__name__)
tracer = trace.get_tracer("dyocense.llm")

# --------------------------------------------------------------------------- complexity
# Weights of the four signals (they sum to 1) and the saturation point of each signal.
WEIGHT_LENGTH = 0.20
WEIGHT_MULTI_STEP = 0.35
WEIGHT_TOOLS = 0.30
WEIGHT_CONVERSATION = 0.15
LENGTH_SATURATION_WORDS = 60
MULTI_STEP_SATURATION = 3
TOOLS_SATURATION = 3
CONVERSATION_SATURATION_MESSAGES = 20
COMPLEX_THRESHOLD = 0.45

# Phrasing that signals several steps, comparisons or reasoning about causes and scenarios.
_MULTI_STEP_PATTERNS = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        r"\bthen\b",
        r"\bafter that\b",
        r"\bcompare[sd]?\b|\bcomparison\b",
        r"\bversus\b|\bvs\.?(?=\s)",
        r"\bwhat if\b|\bscenario",
        r"\bstep[- ]by[- ]step\b|\bsteps\b",
        r"\bplan\b",
        r"\bwhy\b",
        r"\bexplain\b",
        r"\btrade-?offs?\b",
        r"\bfirst\b.*\b(second|next|finally)\b",
    )
)
# Keywords of each tool domain the coach can run; a request touching three domains needs three tools.
_TOOL_DOMAINS: dict[str, tuple[str, ...]] = {
    "metrics": ("revenue", "sales", "orders", "kpi", "metric", "trend", "spend", "margin", "traffic"),
    "forecast": ("forecast", "predict", "projection", "outlook", "expect", "next month", "next quarter"),
    "goals": ("goal", "target", "objective", "okr", "milestone"),
    "evidence": ("why", "cause", "driver", "drive", "impact", "effect", "affect", "because"),
    "optimizer": ("optimi", "allocat", "reorder", "inventory", "staff", "schedul", "product mix", "best mix"),
}


@dataclass(frozen=True)
class ComplexityScore:
    score: float
    length: float
    multi_step: float
    tools: float
    conversation: float
    tools_needed: int

    @property
    def is_complex(self) -> bool:
        return self.score >= COMPLEX_THRESHOLD


def tools_likely_needed(question: str) -> int:
    """How many tool domains (metrics, forecast, goals, evidence, optimizer) the question mentions."""
    lowered = question.lower()
    return sum(1 for words in _TOOL_DOMAINS.values() if any(word in lowered for word in words))


def complexity_score(
    question: str, *, conversation_messages: int = 0, tools_needed: int | None = None
) -> ComplexityScore:
    """How hard a request is, in [0, 1]: a weighted sum of four signals, each capped at 1.

    - length: words / 60 (weight 0.20) — long questions carry more constraints;
    - multi-step phrasing: matched markers / 3 (weight 0.35) — "then", "compare", "what if",
      "why", "plan", "explain", "trade-off", "first … next", plus one per extra question mark;
    - tools likely needed: tool domains named / 3 (weight 0.30), or ``tools_needed`` when the
      caller (an agent) knows it;
    - conversation length: earlier messages / 20 (weight 0.15) — long contexts need a bigger model.

    A score of at least ``COMPLEX_THRESHOLD`` (0.45) counts as complex.
    """
    words = len(question.split())
    markers = sum(1 for pattern in _MULTI_STEP_PATTERNS if pattern.search(question))
    markers += max(question.count("?") - 1, 0)
    needed = tools_likely_needed(question) if tools_needed is None else max(tools_needed, 0)
    length = min(words / LENGTH_SATURATION_WORDS, 1.0)
    multi_step = min(markers / MULTI_STEP_SATURATION, 1.0)
    tools = min(needed / TOOLS_SATURATION, 1.0)
    conversation = min(max(conversation_messages, 0) / CONVERSATION_SATURATION_MESSAGES, 1.0)
    score = (
        WEIGHT_LENGTH * length
        + WEIGHT_MULTI_STEP * multi_step
        + WEIGHT_TOOLS * tools
        + WEIGHT_CONVERSATION * conversation
    )
    return ComplexityScore(
        score=round(score, 4),
        length=length,
        multi_step=multi_step,
        tools=tools,
        conversation=conversation,
        tools_needed=needed,
    )


# --------------------------------------------------------------------------- planning
class Tier(StrEnum):
    LOCAL = "local"
    CLOUD = "cloud"
    OFFLINE = "offline"


@dataclass(frozen=True)
class RoutePlan:
    tiers: tuple[Tier, ...]
    reasons: tuple[str, ...]
    notices: tuple[str, ...] = ()


def cloud_keeps_local_share(policy: TenantLlmPolicy, target_local_share: float) -> bool:
    """Would the month's local share stay at or above the target if this call went to the cloud?"""
    return policy.local_calls >= target_local_share * (policy.total_calls + 1) - 1e-9


def plan_route(
    complexity: ComplexityScore,
    policy: TenantLlmPolicy,
    *,
    local_available: bool,
    cloud_available: bool,
    target_local_share: float,
) -> RoutePlan:
    """The order in which tiers are tried for one request (pure; see the module docstring)."""
    reasons: list[str] = []
    notices: list[str] = []
    cloud_usable = cloud_available
    if not cloud_available:
        reasons.append("no cloud model is configured")
    elif not policy.cloud_allowed:
        cloud_usable = False
        reasons.append("cloud models are disabled for this tenant")
    elif policy.over_budget:
        cloud_usable = False
        reasons.append("the monthly LLM budget is used up")
        notices.append(
            f"This month's LLM budget (${policy.monthly_budget_dollars:.2f}) is used up "
            f"(${policy.month_spend_dollars:.2f} spent), so only local models answer until next month."
        )
    local = (Tier.LOCAL,) if local_available else ()
    if not local_available:
        reasons.append("no local model is configured")
    if not cloud_usable:
        return RoutePlan((*local, Tier.OFFLINE), tuple(reasons), tuple(notices))
    if not local_available:
        return RoutePlan((Tier.CLOUD, Tier.OFFLINE), tuple(reasons), tuple(notices))
    if not complexity.is_complex:
        reasons.append(f"simple request (complexity {complexity.score:.2f} < {COMPLEX_THRESHOLD})")
        return RoutePlan((Tier.LOCAL, Tier.CLOUD, Tier.OFFLINE), tuple(reasons), tuple(notices))
    if not cloud_keeps_local_share(policy, target_local_share):
        reasons.append(
            f"complex request, but a cloud call would take the local share below {target_local_share:.0%}"
        )
        return RoutePlan((Tier.LOCAL, Tier.CLOUD, Tier.OFFLINE), tuple(reasons), tuple(notices))
    reasons.append(f"complex request (complexity {complexity.score:.2f} ≥ {COMPLEX_THRESHOLD})")
    return RoutePlan((Tier.CLOUD, Tier.LOCAL, Tier.OFFLINE), tuple(reasons), tuple(notices))


# --------------------------------------------------------------------------- the router
@dataclass(frozen=True)
class Attempt:
    tier: Tier
    provider: str
    model: str
    outcome: str  # success, error, timeout, skipped (circuit open)
    detail: str | None = None


@dataclass(frozen=True)
class RoutedChat:
    """The answer and how it was reached: tier, complexity, attempts, cost, budget and notices."""

    result: ChatResult
    tier: Tier
    complexity: ComplexityScore
    plan: RoutePlan
    attempts: tuple[Attempt, ...]
    cost_dollars: float
    policy: TenantLlmPolicy
    notices: tuple[str, ...] = field(default=())

    @property
    def fell_back(self) -> bool:
        return self.tier is not self.plan.tiers[0]


def _question_and_history(messages: Sequence[ChatMessage]) -> tuple[str, int]:
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].role == "user":
            earlier = sum(1 for m in messages[:index] if m.role in ("user", "assistant"))
            return messages[index].content, earlier
    return "", 0


class ReplyStream:
    """Where a streamed reply goes: each piece as it arrives, and a reset when it must be discarded.

    ``active`` says whether text went out since the last reset (the caller then does not
    piece out the final reply again).
    """

    def __init__(self, emit: Callable[[str, dict[str, object]], Awaitable[None]]) -> None:
        self._emit = emit
        self.active = False

    async def delta(self, text: str) -> None:
        self.active = True
        await self._emit("delta", {"text": text})

    async def reset(self) -> None:
        if self.active:
            self.active = False
            await self._emit("reset", {})


class LlmRouter:
    """Routes chat requests across the local, cloud and offline providers for one process."""

    def __init__(
        self,
        database: Database,
        settings: LlmSettings,
        *,
        local: LlmProvider | None,
        cloud: LlmProvider | None,
        offline: OfflineProvider,
        recorder: UsageRecorder,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._database = database
        self._settings = settings
        self._providers: dict[Tier, LlmProvider | None] = {
            Tier.LOCAL: local,
            Tier.CLOUD: cloud,
            Tier.OFFLINE: offline,
        }
        self._recorder = recorder
        self.breakers = {
            tier: CircuitBreaker(
                settings.circuit_failure_threshold, settings.circuit_reset_seconds, clock=clock
            )
            for tier in (Tier.LOCAL, Tier.CLOUD)
        }
        LLM_MONTHLY_BUDGET_DOLLARS.set(settings.deployment_monthly_budget_dollars)

    @property
    def local_available(self) -> bool:
        return self._providers[Tier.LOCAL] is not None

    @property
    def cloud_available(self) -> bool:
        return self._providers[Tier.CLOUD] is not None

    async def policy(self, tenant_id: uuid.UUID) -> TenantLlmPolicy:
        async with self._database.tenant_session(tenant_id) as session:
            return await tenant_policy(session, self._settings, datetime.now(UTC))

    async def chat(
        self,
        tenant_id: uuid.UUID,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolSpec] = (),
        *,
        tools_needed: int | None = None,
        stream: ReplyStream | None = None,
    ) -> RoutedChat:
        """Answer ``messages`` with the best provider the tenant's policy allows; see the module docstring.

        With ``stream`` the reply's text goes out as the model writes it. A provider failing after
        some text went out makes the stream ``reset`` (the client discards it) before the fallback.
        """
        question, history = _question_and_history(messages)
        complexity = complexity_score(question, conversation_messages=history, tools_needed=tools_needed)
        policy = await self.policy(tenant_id)
        plan = plan_route(
            complexity,
            policy,
            local_available=self.local_available,
            cloud_available=self.cloud_available,
            target_local_share=self._settings.target_local_share,
        )
        attempts: list[Attempt] = []
        for tier in plan.tiers:
            provider = self._providers[tier]
            if provider is None:
                continue
            breaker = self.breakers.get(tier)
            if breaker is not None and not breaker.allow():
                attempts.append(Attempt(tier, provider.name, provider.model, "skipped", "circuit open"))
                continue
            try:
                result = await self._call(provider, messages, tools, stream.delta if stream else None)
            except ProviderError as error:
                if stream is not None:
                    await stream.reset()
                if breaker is not None:
                    breaker.record_failure()
                attempts.append(Attempt(tier, provider.name, provider.model, error.outcome, str(error)))
                failed = LlmCall(
                    provider.name, provider.model, provider.is_local, error.latency_seconds, error.outcome
                )
                await self._recorder.record(tenant_id, failed)
                logger.warning("llm_fallback", tier=tier.value, provider=provider.name, outcome=error.outcome)
                continue
            if breaker is not None:
                breaker.record_success()
            attempts.append(Attempt(tier, provider.name, provider.model, "success"))
            cost = await self._recorder.record(
                tenant_id, LlmCall.succeeded(result, is_local=provider.is_local)
            )
            return RoutedChat(
                result=result,
                tier=tier,
                complexity=complexity,
                plan=plan,
                attempts=tuple(attempts),
                cost_dollars=cost,
                policy=policy,
                notices=plan.notices,
            )
        # The offline tier ends every plan and does not fail; reaching here is a programming error.
        raise RuntimeError("no LLM tier answered")

    async def _call(
        self,
        provider: LlmProvider,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolSpec],
        on_delta: DeltaSink | None,
    ) -> ChatResult:
        with tracer.start_as_current_span("llm.chat") as span:
            span.set_attribute("llm.provider", provider.name)
            span.set_attribute("llm.model", provider.model)
            started = time.perf_counter()
            try:
                result = await provider.chat(messages, tools, on_delta)
            except ProviderError as error:
                error.latency_seconds = time.perf_counter() - started
                span.set_attribute("llm.outcome", error.outcome)
                raise
            span.set_attribute("llm.outcome", "success")
            span.set_attribute("llm.tokens_in", result.usage.tokens_in)
            span.set_attribute("llm.tokens_out", result.usage.tokens_out)
            return result

    async def close(self) -> None:
        for provider in self._providers.values():
            if provider is not None:
                await provider.close()


__all__ = [
    "COMPLEX_THRESHOLD",
    "Attempt",
    "ComplexityScore",
    "LlmRouter",
    "ReplyStream",
    "RoutePlan",
    "RoutedChat",
    "Tier",
    "complexity_score",
    "plan_route",
]
