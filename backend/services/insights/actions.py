"""Suggested actions: the best next move an insight can carry, with its expected effect.

Only where a model of the shop gives one. Today that is the marketing-mix model: for an insight on
the metric the newest MMM explains, the optimizer splits the recent spend rate (the channels' mean
spend over ``PLANNING_DAYS``) across the channels on the model's curves; when that plan is expected
to bring more of the metric than the current split, the insight suggests the largest move (from the
channel losing most to the one gaining most) with the whole plan's expected gain. The interval is
conservative: the gain if the current split's outcome sits at its 95% band's top and the plan's at
its bottom, up to the reverse (the stored curves carry bands, not joint draws). No model, no gain:
no suggestion (an action without its expected effect would be a guess).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from backend.services.errors import DyocenseError
from backend.services.insights.types import Finding, SuggestedAction
from backend.services.optimizer import SolveOptions
from backend.services.optimizer import service as optimizer
from backend.services.optimizer.from_data import BudgetInputs, budget_inputs
from backend.services.optimizer.runner import run_template
from backend.services.optimizer.scenarios import expected_outcome
from backend.services.optimizer.types import FromDataAsk
from backend.utils.compute import ComputePool

logger = structlog.get_logger(__name__)

PLANNING_DAYS = 30.0
# Insights about where the metric is going, which a better spend split can answer.
ACTIONABLE = frozenset({"period_change", "unusual_value", "trend_change", "goal_at_risk"})
MIN_GAIN_SHARE = 0.01  # a plan must be expected to add at least 1% of the current split's outcome


def _spends(decisions: dict[str, float]) -> dict[str, float]:
    return {
        name.removeprefix("spend."): value for name, value in decisions.items() if name.startswith("spend.")
    }


def _action(found: BudgetInputs, plan: dict[str, float]) -> SuggestedAction | None:
    current = {channel.name: channel.mean_spend * found.buckets for channel in found.fit.channels}
    before = expected_outcome(found.fit, current, found.buckets).outcome
    after = expected_outcome(found.fit, plan, found.buckets).outcome
    gain = after.value - before.value
    moves = {name: plan.get(name, 0.0) - spend for name, spend in current.items()}
    if gain <= MIN_GAIN_SHARE * abs(before.value) or len(moves) < 2:
        return None
    source, target = min(moves, key=lambda n: moves[n]), max(moves, key=lambda n: moves[n])
    moved = min(-moves[source], moves[target])
    if moved <= 0:
        return None
    outcome = found.model.outcome
    return SuggestedAction(
        description=(
            f"Move {moved:,.0f} of the next {PLANNING_DAYS:g} days' spend from {source} to {target} "
            f"(the optimizer's split of the recent spend rate, {found.budget:,.0f}): "
            f"{gain:+,.0f} {outcome} expected from the channels"
        ),
        expected_effect=gain,
        lower=after.low - before.high,
        upper=after.high - before.low,
        source=f"marketing-mix model {found.model.id} and a budget_allocation plan on its curves",
    )


async def budget_action(session: AsyncSession, pool: ComputePool) -> tuple[str, SuggestedAction] | None:
    """The newest MMM's outcome metric and the spend move it suggests, or None."""
    try:
        found = await budget_inputs(session, FromDataAsk(planning_days=PLANNING_DAYS))
        prepared = await optimizer.prepare_run(
            session,
            template="budget_allocation",
            params=dict(found.derived.params),
            options=SolveOptions(solver="highs"),
        )
        result = await pool.run(run_template, prepared.template, prepared.params, prepared.options)
    except DyocenseError as error:  # MissingInputs among them: no model, no action
        logger.info("insight_action_skipped", reason=type(error).__name__)
        return None
    if result.status != "optimal":
        return None
    action = _action(found, _spends(result.decisions))
    return (found.model.outcome, action) if action is not None else None


async def with_actions(
    session: AsyncSession, pool: ComputePool, findings: Sequence[Finding]
) -> list[Finding]:
    """``findings`` with a suggested action on each actionable one about the MMM's outcome metric."""
    if not any(finding.type in ACTIONABLE for finding in findings):
        return list(findings)
    suggested = await budget_action(session, pool)
    if suggested is None:
        return list(findings)
    metric, action = suggested
    return [
        dataclasses.replace(finding, suggested_action=action)
        if finding.type in ACTIONABLE and finding.metric == metric
        else finding
        for finding in findings
    ]
