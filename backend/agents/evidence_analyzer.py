"""evidence_analyzer: what drives an outcome, with effect sizes, intervals and refutation status.

Reads the evidence service's stored analyses of the outcome first (full causal estimates
with refuters and a verdict). When there are none, it runs the service's driver
screening (correlation screening with false-discovery control, then a quick adjusted
estimate per discovery — no refuters) and says so, suggesting the full analysis.
"""

from __future__ import annotations

import re
from typing import Any

from backend.agents.common import catalog, pick_metric
from backend.agents.question import match_metrics
from backend.agents.types import AgentDeps, AgentName, AgentResult, Citations, SuggestedAction
from backend.models import EvidenceEdge, Role
from backend.services.errors import DyocenseError
from backend.services.evidence import service as evidence_service
from backend.services.evidence.types import DriversSpec, EffectEstimate
from backend.utils.repository import PageWindow

AGENT: AgentName = "evidence_analyzer"
STORED_EDGES = 20
SHOWN = 3
_CAUSE_FIRST = re.compile(
    r"\b(drive|drives|affect|affects|impact|impacts|cause|causes|move|moves|increase|lift)\b", re.I
)


def _roles(question: str, arguments: dict[str, Any], names: list[str]) -> tuple[str | None, str | None]:
    """(outcome, treatment) from the arguments or the question.

    "does ad_spend drive revenue" → (revenue, ad_spend).
    """
    outcome = arguments.get("outcome") if isinstance(arguments.get("outcome"), str) else None
    treatment = arguments.get("treatment") if isinstance(arguments.get("treatment"), str) else None
    if outcome is not None:
        return outcome, treatment
    mentioned = match_metrics(question, names)
    if len(mentioned) >= 2 and _CAUSE_FIRST.search(question):
        return mentioned[1], treatment or mentioned[0]
    return (mentioned[0] if mentioned else None), treatment


def _cited_estimate(
    cite: Citations, estimate: EffectEstimate, outcome: str, period: str | None, method: str
) -> tuple[str, str, str, str]:
    """The interval's level and the cited estimate, lower and upper bound."""
    level = f"{round(estimate.confidence_level * 100)}%"
    value = cite.number(estimate.value, metric=outcome, period=period, method=method)
    bounds = [
        cite.number(bound, metric=outcome, period=period, method=f"{level} interval {side} bound, {method}")
        for bound, side in ((estimate.ci_low, "lower"), (estimate.ci_high, "upper"))
    ]
    return level, value, bounds[0], bounds[1]


async def run(deps: AgentDeps, question: str, arguments: dict[str, Any]) -> AgentResult:
    entries = await catalog(deps.session)
    names = [entry.name for entry in entries]
    outcome, treatment = _roles(question, arguments, names)
    entry, problem = pick_metric(question, {"outcome": outcome} if outcome else {}, "outcome", entries)
    if entry is None:
        return AgentResult(
            AGENT, "needs_input", [f"Which outcome should I explain? {problem}"], data={"needs": ["outcome"]}
        )
    if treatment is not None and treatment not in names:
        treatment = None
    listed, _ = await evidence_service.list_edges(
        deps.session, PageWindow(STORED_EDGES), cause=treatment, effect=entry.name, verdict=None
    )
    newest: dict[str, EvidenceEdge] = {}
    for edge in listed:
        newest.setdefault(edge.cause, edge)
    if newest:
        return await _stored(deps, entry.name, list(newest.values())[:SHOWN])
    if not deps.principal.role.at_least(Role.ANALYST):
        return AgentResult(
            AGENT,
            "not_allowed",
            [f"There is no stored analysis of {entry.name}, and running one needs the analyst role."],
        )
    return await _screen(deps, entry.name, treatment)


async def _stored(deps: AgentDeps, outcome: str, edges: list[EvidenceEdge]) -> AgentResult:
    cite = Citations(AGENT)
    report = [f"Stored causal analyses of {outcome} (newest per lever):"]
    findings = []
    for summary in edges:
        # Listings defer the result document; read the edge in full.
        deps.session.expunge(summary)
        edge = await evidence_service.get_edge(deps.session, summary.id)
        result = evidence_service.edge_result(edge)
        estimate = result.estimate
        span = None
        if edge.data_start is not None and edge.data_end is not None:
            span = f"{edge.data_start.date().isoformat()} to {edge.data_end.date().isoformat()}"
        method = f"{estimate.method} effect of one unit of {result.treatment} on {outcome}"
        level, value, low, high = _cited_estimate(cite, estimate, outcome, span, method)
        refuters = [r for r in result.refutations if r.passed is not None]
        passed = [r.name for r in refuters if r.passed]
        failed = [r.name for r in refuters if not r.passed]
        status = (
            f"refuters passed: {', '.join(passed) or 'none'}; failed: {', '.join(failed) or 'none'}"
            if refuters
            else "no refuter could be applied"
        )
        report.append(
            f"{result.treatment}: {value} {outcome} per unit of {result.treatment} "
            f"({level} interval {low} to "
            f"{high}), verdict {result.verdict}; {status}."
        )
        findings.append(
            {
                "edge_id": str(edge.id),
                "treatment": result.treatment,
                "effect": estimate.value,
                "ci": [estimate.ci_low, estimate.ci_high],
                "confidence_level": estimate.confidence_level,
                "method": estimate.method,
                "verdict": result.verdict,
                "refutations": [{"name": r.name, "passed": r.passed} for r in result.refutations],
                "reasons": result.reasons,
            }
        )
    return AgentResult(
        AGENT,
        "ok",
        report,
        data={"outcome": outcome, "source": "stored analyses", "findings": findings},
        citations=cite.items,
        suggested_actions=[
            SuggestedAction(
                f"Open the analysis of {f['treatment']}", "GET", f"/api/v1/evidence/edges/{f['edge_id']}"
            )
            for f in findings
        ],
    )


async def _screen(deps: AgentDeps, outcome: str, treatment: str | None) -> AgentResult:
    cite = Citations(AGENT)
    spec = DriversSpec(outcome=outcome, candidates=[treatment] if treatment else None, top=SHOWN)
    await deps.emit("tool", {"agent": AGENT, "tool": "evidence.drivers", "status": "started"})
    try:
        output = await evidence_service.drivers(deps.session, deps.pool, spec)
    except DyocenseError as error:
        return AgentResult(
            AGENT,
            "needs_input",
            [
                f"The evidence service could not screen drivers of {outcome}: "
                + cite.quote(error.message, method="stated by the evidence service")
            ],
            data={"outcome": outcome, "reason": error.message, "details": error.details},
            citations=cite.items,
        )
    screening = output.screening
    discovered = [c for c in screening.candidates if c.discovered]
    report = [
        f"No stored causal analysis of {outcome} exists, so I screened candidate drivers ({screening.method} "
        "correlation with false-discovery control; association, not yet causation)."
    ]
    rows = []
    for candidate in discovered[:SHOWN]:
        method = f"{screening.method} correlation of {candidate.name} with {outcome}"
        corr = cite.number(candidate.correlation, metric=outcome, period=None, method=method)
        q = cite.number(
            candidate.q_value, metric=outcome, period=None, method=f"q-value (Benjamini-Hochberg), {method}"
        )
        report.append(f"{candidate.name}: correlation {corr} (q-value {q}).")
        rows.append(
            {"name": candidate.name, "correlation": candidate.correlation, "q_value": candidate.q_value}
        )
    if not discovered:
        report.append("No candidate passed the false-discovery threshold.")
    estimates = []
    for driver in output.estimates:
        if driver.estimate is None:
            continue
        est = driver.estimate
        method = f"{est.method} effect of one unit of {driver.treatment} on {outcome} (screening estimate)"
        level, value, low, high = _cited_estimate(cite, est, outcome, None, method)
        report.append(
            f"Adjusted estimate for {driver.treatment}: {value} {outcome} per unit "
            f"({level} interval {low} to {high}); "
            "refutation tests not run yet."
        )
        estimates.append(
            {
                "treatment": driver.treatment,
                "effect": est.value,
                "ci": [est.ci_low, est.ci_high],
                "refuted": None,
            }
        )
    actions = [
        SuggestedAction(
            f"Run a full causal analysis of {row['treatment']} on {outcome} (with refutation tests)",
            "POST",
            "/api/v1/evidence/analyze",
            {"outcome": outcome, "treatment": row["treatment"]},
        )
        for row in estimates
    ]
    return AgentResult(
        AGENT,
        "ok",
        report,
        data={
            "outcome": outcome,
            "source": "driver screening",
            "screened": rows,
            "estimates": estimates,
            "note": screening.note,
        },
        citations=cite.items,
        suggested_actions=actions,
    )
