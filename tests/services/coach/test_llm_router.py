"""The router end to end: fake Ollama and OpenAI servers, the real database, usage rows and counters."""

from __future__ import annotations

import uuid

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select

from backend.config import DEFAULT_LLM_PRICES
from backend.models import LlmUsage
from backend.services.coach.llm_router import Tier
from backend.services.coach.providers import ChatMessage
from backend.utils.database import Database
from tests.factories import create_tenant
from tests.services.coach.conftest import COMPLEX_QUESTION, RouterFactory, set_tenant_settings
from tests.services.coach.fake_llm import FakeLlmServer, Scripted, ollama_chat, openai_chat

SIMPLE = [ChatMessage("user", "What was revenue last week?")]
COMPLEX = [ChatMessage("user", COMPLEX_QUESTION)]
CLOUD = "/v1/chat/completions"
LOCAL = "/api/chat"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def usage_rows(database: Database, tenant_id: uuid.UUID) -> list[LlmUsage]:
    async with database.tenant_session(tenant_id) as session:
        rows = await session.scalars(select(LlmUsage).order_by(LlmUsage.created_at, LlmUsage.id))
        return list(rows)


async def test_simple_question_is_answered_locally_at_no_cost(
    make_router: RouterFactory, fake_llm: FakeLlmServer, database: Database, tenant_id: uuid.UUID
) -> None:
    before = sample("llm_requests_total", provider="ollama", model="llama-test", outcome="success")
    routed = await make_router().chat(tenant_id, SIMPLE)
    assert routed.tier is Tier.LOCAL and routed.result.content == "local answer"
    assert routed.cost_dollars == 0.0
    assert fake_llm.requests_to(CLOUD) == []
    (row,) = await usage_rows(database, tenant_id)
    assert (row.provider, row.model, row.tokens_in, row.tokens_out, row.outcome) == (
        "ollama",
        "llama-test",
        42,
        7,
        "success",
    )
    assert row.cost_dollars == 0.0 and not row.tokens_estimated
    assert (
        sample("llm_requests_total", provider="ollama", model="llama-test", outcome="success") == before + 1
    )


async def test_complex_question_goes_to_cloud_and_costs_tokens_times_list_price(
    make_router: RouterFactory, fake_llm: FakeLlmServer, database: Database, tenant_id: uuid.UUID
) -> None:
    router = make_router()
    labels = {"provider": "openai", "model": "gpt-4o-mini"}
    cost_before = sample("llm_cost_dollars_total", **labels)
    tokens_in_before = sample("llm_tokens_total", direction="in", **labels)
    tokens_out_before = sample("llm_tokens_total", direction="out", **labels)
    duration_before = sample("llm_request_duration_seconds_count", **labels)
    routed = await router.chat(tenant_id, COMPLEX)
    assert routed.tier is Tier.CLOUD and routed.result.content == "cloud answer"
    assert fake_llm.requests_to(LOCAL) == []
    price = DEFAULT_LLM_PRICES["gpt-4o-mini"]
    expected = (1200 * price.input_per_million + 300 * price.output_per_million) / 1_000_000
    assert routed.cost_dollars == pytest.approx(expected)
    (row,) = await usage_rows(database, tenant_id)
    assert (row.provider, row.tokens_in, row.tokens_out) == ("openai", 1200, 300)
    assert row.cost_dollars == pytest.approx(expected)
    assert sample("llm_cost_dollars_total", **labels) == pytest.approx(cost_before + expected)
    assert sample("llm_tokens_total", direction="in", **labels) == tokens_in_before + 1200
    assert sample("llm_tokens_total", direction="out", **labels) == tokens_out_before + 300
    assert sample("llm_request_duration_seconds_count", **labels) == duration_before + 1


async def test_cloud_error_falls_back_to_local_and_both_calls_are_recorded(
    make_router: RouterFactory, fake_llm: FakeLlmServer, database: Database, tenant_id: uuid.UUID
) -> None:
    fake_llm.script(CLOUD, Scripted({"error": "boom"}, status=500))
    before = sample("llm_requests_total", provider="openai", model="gpt-4o-mini", outcome="error")
    routed = await make_router().chat(tenant_id, COMPLEX)
    assert routed.tier is Tier.LOCAL and routed.fell_back
    assert [a.outcome for a in routed.attempts] == ["error", "success"]
    rows = await usage_rows(database, tenant_id)
    assert sorted((r.provider, r.outcome, r.cost_dollars) for r in rows) == [
        ("ollama", "success", 0.0),
        ("openai", "error", 0.0),
    ]
    assert sample("llm_requests_total", provider="openai", model="gpt-4o-mini", outcome="error") == before + 1


async def test_local_timeout_falls_back_to_cloud(
    make_router: RouterFactory, fake_llm: FakeLlmServer, database: Database, tenant_id: uuid.UUID
) -> None:
    fake_llm.script(LOCAL, Scripted(ollama_chat("too late"), delay_seconds=2.0))
    routed = await make_router(timeout_seconds=0.3).chat(tenant_id, SIMPLE)
    assert routed.tier is Tier.CLOUD
    assert [(a.tier, a.outcome) for a in routed.attempts] == [
        (Tier.LOCAL, "timeout"),
        (Tier.CLOUD, "success"),
    ]
    outcomes = sorted((r.provider, r.outcome) for r in await usage_rows(database, tenant_id))
    assert outcomes == [("ollama", "timeout"), ("openai", "success")]


async def test_circuit_opens_after_repeated_failures_and_the_provider_is_skipped(
    make_router: RouterFactory, fake_llm: FakeLlmServer, tenant_id: uuid.UUID
) -> None:
    router = make_router(circuit_failure_threshold=2)
    fake_llm.script(CLOUD, Scripted({"error": "down"}, status=502), Scripted({"error": "down"}, status=502))
    for _ in range(2):
        assert (await router.chat(tenant_id, COMPLEX)).tier is Tier.LOCAL
    assert len(fake_llm.requests_to(CLOUD)) == 2
    routed = await router.chat(tenant_id, COMPLEX)
    assert routed.tier is Tier.LOCAL
    assert routed.attempts[0].outcome == "skipped"
    assert len(fake_llm.requests_to(CLOUD)) == 2  # the open circuit sent nothing


async def test_when_every_model_fails_the_offline_templates_answer(
    make_router: RouterFactory, fake_llm: FakeLlmServer, tenant_id: uuid.UUID
) -> None:
    fake_llm.script(CLOUD, Scripted({"error": "down"}, status=500))
    fake_llm.script(LOCAL, Scripted({"error": "down"}, status=500))
    routed = await make_router().chat(tenant_id, COMPLEX)
    assert routed.tier is Tier.OFFLINE and routed.result.templated


async def test_over_budget_tenant_is_answered_locally_and_told_so(
    make_router: RouterFactory, fake_llm: FakeLlmServer, database: Database, tenant_id: uuid.UUID
) -> None:
    router = make_router()
    await set_tenant_settings(database, tenant_id, {"llm_monthly_budget_dollars": 0.0005})
    first = await router.chat(tenant_id, COMPLEX)  # $0.00036 of $0.0005: still under
    assert first.tier is Tier.CLOUD and first.notices == ()
    second = await router.chat(tenant_id, COMPLEX)  # under budget before the call; now $0.00072
    assert second.tier is Tier.CLOUD
    third = await router.chat(tenant_id, COMPLEX)
    assert third.tier is Tier.LOCAL
    assert third.policy.over_budget
    assert any("budget" in notice for notice in third.notices)
    assert len(fake_llm.requests_to(CLOUD)) == 2


async def test_over_budget_local_failure_never_falls_back_to_cloud(
    make_router: RouterFactory, fake_llm: FakeLlmServer, database: Database, tenant_id: uuid.UUID
) -> None:
    await set_tenant_settings(database, tenant_id, {"llm_monthly_budget_dollars": 0})
    fake_llm.script(LOCAL, Scripted({"error": "down"}, status=500))
    routed = await make_router().chat(tenant_id, COMPLEX)
    assert routed.tier is Tier.OFFLINE
    assert fake_llm.requests_to(CLOUD) == []


async def test_tenant_that_disabled_cloud_never_reaches_the_cloud(
    make_router: RouterFactory, fake_llm: FakeLlmServer, database: Database, tenant_id: uuid.UUID
) -> None:
    await set_tenant_settings(database, tenant_id, {"cloud_llm": False})
    router = make_router()
    assert (await router.chat(tenant_id, COMPLEX)).tier is Tier.LOCAL
    fake_llm.script(LOCAL, Scripted({"error": "down"}, status=500))
    fallback = await router.chat(tenant_id, SIMPLE)
    assert fallback.tier is Tier.OFFLINE
    assert fake_llm.requests_to(CLOUD) == []
    assert not any(r.provider == "openai" for r in await usage_rows(database, tenant_id))


async def test_other_tenants_keep_the_cloud_when_one_disables_it(
    make_router: RouterFactory, database: Database, tenant_id: uuid.UUID, client: httpx.AsyncClient
) -> None:
    other = (await create_tenant(client)).tenant_id
    await set_tenant_settings(database, tenant_id, {"cloud_llm": False})
    router = make_router()
    assert (await router.chat(other, COMPLEX)).tier is Tier.CLOUD


async def test_estimated_tokens_are_flagged_in_the_usage_row(
    make_router: RouterFactory, fake_llm: FakeLlmServer, database: Database, tenant_id: uuid.UUID
) -> None:
    fake_llm.script(CLOUD, Scripted(openai_chat("x" * 400, usage=False)))
    routed = await make_router().chat(tenant_id, COMPLEX)
    assert routed.result.usage.estimated
    (row,) = await usage_rows(database, tenant_id)
    assert row.tokens_estimated and row.tokens_out == 100 and row.cost_dollars > 0


async def test_target_local_share_keeps_complex_questions_local_until_the_share_allows(
    make_router: RouterFactory, fake_llm: FakeLlmServer, tenant_id: uuid.UUID
) -> None:
    router = make_router(target_local_share=0.5)
    tiers = [(await router.chat(tenant_id, COMPLEX)).tier for _ in range(4)]
    # 0/1 local would be 0% → local; then 1 local of 2 = 50% → cloud; 1 of 3 → local; 2 of 4 → cloud.
    assert tiers == [Tier.LOCAL, Tier.CLOUD, Tier.LOCAL, Tier.CLOUD]
    assert len(fake_llm.requests_to(CLOUD)) == 2


async def test_without_any_model_the_offline_provider_answers_from_tool_results(
    make_router: RouterFactory, database: Database, tenant_id: uuid.UUID
) -> None:
    router = make_router(local=False, cloud=False)
    routed = await router.chat(
        tenant_id,
        [
            ChatMessage("user", "How is revenue?"),
            ChatMessage("tool", '{"revenue": 1234.5}', name="metric_summary"),
        ],
    )
    assert routed.tier is Tier.OFFLINE and routed.result.templated
    assert "1234.5" in routed.result.content
    (row,) = await usage_rows(database, tenant_id)
    assert (row.provider, row.model, row.cost_dollars) == ("offline", "templates", 0.0)
