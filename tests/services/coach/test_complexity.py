"""The router's complexity score and route planning (pure functions)."""

from __future__ import annotations

import pytest

from backend.services.coach.llm_router import (
    COMPLEX_THRESHOLD,
    WEIGHT_CONVERSATION,
    WEIGHT_LENGTH,
    WEIGHT_MULTI_STEP,
    WEIGHT_TOOLS,
    RoutePlan,
    Tier,
    complexity_score,
    plan_route,
    tools_likely_needed,
)
from backend.services.coach.usage import TenantLlmPolicy
from tests.services.coach.conftest import COMPLEX_QUESTION

SIMPLE = "What was revenue last week?"


def policy(**overrides: object) -> TenantLlmPolicy:
    values: dict[str, object] = {
        "cloud_allowed": True,
        "monthly_budget_dollars": 10.0,
        "month_spend_dollars": 0.0,
        "local_calls": 0,
        "total_calls": 0,
    }
    values.update(overrides)
    return TenantLlmPolicy(**values)  # type: ignore[arg-type]


def plan(
    question: str,
    *,
    local: bool = True,
    cloud: bool = True,
    local_share: float = 0,
    **policy_overrides: object,
) -> RoutePlan:
    """The route for ``question`` with the given providers up and the tenant's policy."""
    return plan_route(
        complexity_score(question),
        policy(**policy_overrides),
        local_available=local,
        cloud_available=cloud,
        target_local_share=local_share,
    )


def test_weights_sum_to_one_so_the_score_stays_in_unit_interval() -> None:
    assert pytest.approx(1.0) == WEIGHT_LENGTH + WEIGHT_MULTI_STEP + WEIGHT_TOOLS + WEIGHT_CONVERSATION
    extreme = complexity_score(
        "why then compare what if plan explain " * 50 + "forecast goal inventory revenue cause???",
        conversation_messages=500,
        tools_needed=10,
    )
    assert extreme.score == pytest.approx(1.0)
    assert complexity_score("").score == 0.0


def test_short_factual_question_is_simple() -> None:
    score = complexity_score(SIMPLE)
    assert score.score < COMPLEX_THRESHOLD
    assert not score.is_complex
    assert score.multi_step == 0.0
    assert score.tools_needed == 1  # metrics only


def test_multi_step_question_touching_several_tools_is_complex() -> None:
    score = complexity_score(COMPLEX_QUESTION)
    assert score.is_complex
    assert score.multi_step == 1.0
    assert score.tools_needed >= 3


def test_each_signal_raises_the_score() -> None:
    base = complexity_score(SIMPLE).score
    assert complexity_score(SIMPLE + " Then explain why.").score > base
    assert complexity_score(SIMPLE, conversation_messages=10).score > base
    assert complexity_score(SIMPLE, tools_needed=3).score > base
    longer = SIMPLE + " Please include every store and every channel we sell through in the answer."
    assert complexity_score(longer).score > base


def test_long_conversation_alone_adds_at_most_its_weight() -> None:
    assert complexity_score("ok", conversation_messages=1000).score == pytest.approx(
        WEIGHT_CONVERSATION, abs=0.01
    )


def test_tools_needed_from_the_caller_overrides_keyword_guess() -> None:
    assert tools_likely_needed("forecast revenue and the goal") == 3
    assert complexity_score("forecast revenue and the goal", tools_needed=0).tools_needed == 0


def test_simple_request_goes_local_first_with_cloud_as_fallback() -> None:
    assert plan(SIMPLE).tiers == (Tier.LOCAL, Tier.CLOUD, Tier.OFFLINE)


def test_complex_request_goes_to_cloud_first() -> None:
    assert plan(COMPLEX_QUESTION).tiers == (Tier.CLOUD, Tier.LOCAL, Tier.OFFLINE)


def test_over_budget_is_local_only_and_says_so() -> None:
    over_budget = plan(COMPLEX_QUESTION, month_spend_dollars=10.0)
    assert over_budget.tiers == (Tier.LOCAL, Tier.OFFLINE)
    assert any("budget" in notice for notice in over_budget.notices)


def test_cloud_disabled_tenant_never_plans_the_cloud() -> None:
    for question in (SIMPLE, COMPLEX_QUESTION):
        assert Tier.CLOUD not in plan(question, cloud_allowed=False).tiers


def test_complex_request_stays_local_when_the_cloud_would_break_the_target_share() -> None:
    def first_tier(local_calls: int, total_calls: int) -> Tier:
        return plan(
            COMPLEX_QUESTION, local_share=0.75, local_calls=local_calls, total_calls=total_calls
        ).tiers[0]

    assert first_tier(2, 3) is Tier.LOCAL
    # 3 local of 4 calls: one more cloud call gives 3/5 = 60% < 75% → local; 6 of 7 → 6/8 = 75% → cloud.
    assert first_tier(3, 4) is Tier.LOCAL
    assert first_tier(6, 7) is Tier.CLOUD


def test_without_local_model_cloud_answers_and_offline_is_the_last_resort() -> None:
    assert plan(SIMPLE, local=False, local_share=0.9).tiers == (Tier.CLOUD, Tier.OFFLINE)


def test_nothing_configured_means_offline_templates() -> None:
    assert plan(COMPLEX_QUESTION, local=False, cloud=False).tiers == (Tier.OFFLINE,)
