"""Suggested actions on insights, from a marketing-mix model fitted on simulated spend whose true
curves are known: search still has a high marginal return at its spend, social is saturated."""

from __future__ import annotations

from datetime import date

import httpx

from backend.models import Insight
from backend.services.insights.actions import with_actions
from backend.services.insights.digest import Digest, compose
from backend.services.insights.types import Finding, InsightNumbers, SuggestedAction
from backend.utils.database import Database
from tests.factories import create_tenant
from tests.jobs.support import shared_compute
from tests.routes.test_mmm import TWO_CHANNELS, _ingest
from tests.services.evidence.mmm_synthetic import simulate_mmm


def _finding(kind: str, metric: str) -> Finding:
    return Finding(
        type=kind,  # type: ignore[arg-type]
        severity="medium",
        metric=metric,
        period_start=date(2025, 12, 22),
        period_end=date(2025, 12, 29),
        sentence=f"{metric} moved.",
        numbers=InsightNumbers(value=1.0),
    )


async def test_an_insight_on_the_models_outcome_suggests_moving_spend_to_the_unsaturated_channel(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant = await create_tenant(client)
    truth = simulate_mmm(seed=11, channels=TWO_CHANNELS)
    await _ingest(client, tenant, {c: truth.frame[c].to_numpy().round(2) for c in truth.frame.columns})
    findings = [
        _finding("period_change", "revenue"),
        _finding("record", "revenue"),
        _finding("period_change", "orders"),
    ]
    async with database.tenant_session(tenant.tenant_id) as session:
        # No model yet: no action anywhere (none is guessed).
        assert [f.suggested_action for f in await with_actions(session, shared_compute(), findings)] == [
            None
        ] * 3

    body = {"outcome": "revenue", "channels": ["search_spend", "social_spend"], "bootstrap_draws": 8}
    fitted = await client.post("/api/v1/evidence/mmm", json=body, headers=tenant.headers)
    assert fitted.status_code == 201, fitted.text

    async with database.tenant_session(tenant.tenant_id) as session:
        changed, record, other = await with_actions(session, shared_compute(), findings)
    assert record.suggested_action is None and other.suggested_action is None
    action = changed.suggested_action
    assert action is not None
    # The true curves: the saturated channel gives its money to the one with returns left.
    assert "from social_spend to search_spend" in action.description, action.description
    assert action.expected_effect > 0
    assert action.lower is not None and action.upper is not None
    assert action.lower <= action.expected_effect <= action.upper
    assert fitted.json()["id"] in action.source


def test_a_digest_shows_an_insights_suggested_action_with_its_interval_and_source() -> None:
    action = SuggestedAction(
        description="Move 1,200 of the next 30 days' spend from search to social: +3,400 revenue expected",
        expected_effect=3400.0,
        lower=1100.0,
        upper=5600.0,
        source="marketing-mix model m1 and a budget_allocation plan on its curves",
    )
    plain = Insight(type="period_change", metric="revenue", sentence="Revenue fell 12% last week.")
    helped = Insight(
        type="unusual_value",
        metric="revenue",
        sentence="Yesterday's revenue was unusually low.",
        suggested_action=action.model_dump(mode="json"),
    )
    email = compose(
        Digest(metrics=["revenue"], insights=[plain, helped], charts=[]),
        [],
        to="owner@example.com",
        tenant_name="Harbour Bakery",
        frequency="daily",
        day=date(2026, 12, 7),
        unsubscribe="https://api.example.com/u?token=t",
    )
    lines = email.text.splitlines()
    at = lines.index("- Yesterday's revenue was unusually low.")
    assert lines[at + 1] == (
        "  Suggested: Move 1,200 of the next 30 days' spend from search to social: +3,400 revenue expected "
        "[1,100, 5,600], from the marketing-mix model m1 and a budget_allocation plan on its curves"
    )
    assert (
        lines[lines.index("- Revenue fell 12% last week.") + 1] == "- Yesterday's revenue was unusually low."
    )
    assert email.html is not None and "<em>Suggested: Move 1,200" in email.html
