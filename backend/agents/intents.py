"""Offline routing: which agents a question needs, with their arguments, when no model chooses them.

The embedding classifier names the kind of request; this module turns it into a plan for the
metric the question is about:

- **advice** ("How can I increase revenue?"): what drives the metric, its outlook, its goals and,
  where the tenant buys ads, the budget plan — not a goal draft the owner did not ask for;
- **outlook** ("What will revenue look like next quarter?"): the forecast (by month when the
  question looks months ahead and a year of history allows it) and the drivers behind it;
- otherwise the classifier's agents, each told the metric.

A question about something the tenant has no data for (churn, profit, staff, …) is *unserved*:
the answer says which data or connector would let the coach answer it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from backend.agents.question import match_metrics, parse_horizon
from backend.agents.types import AgentCall, AgentName
from backend.services.metrics.repository import CatalogEntry

_ADVICE = re.compile(
    r"\b(?:how (?:can|do|could|should|might|would) (?:i|we)|ways? to|what (?:should|can) (?:i|we) do"
    r"|what would help|tips? (?:to|for)|ideas? (?:to|for)|help me)\b",
    re.IGNORECASE,
)
# A decision to try out: the optimizer's what-if, whatever else the wording resembles.
_WHAT_IF = re.compile(
    r"\bwhat if\b|\bsuppose\b|\bshould (?:i|we) (?:raise|lower|cut|increase|reduce|change|drop)\b",
    re.IGNORECASE,
)
# A decision to make (the optimizer's work), as opposed to a figure to look up.
_DECISION_WORDS = re.compile(
    r"\b(plan\w*|optimi[sz]\w*|best|how (?:many|much)|should|split|allocat\w*|schedul\w*|reorder|mix)\b", re.I
)
_OUTLOOK_WORDS = re.compile(r"\b(outlook|forecast\w*|predict\w*|expect\w*|will|next|heading|coming)\b", re.I)
_GOAL_WORDS = re.compile(r"\b(goals?|targets?|objectives?|smart)\b", re.IGNORECASE)
_MONTHS_AHEAD = ("month", "quarter", "year")
# A year of history: enough for monthly forecasts and for last year's season.
MONTHLY_MIN_DAYS = 365
ADVICE_FORECAST_MONTHS = 3


@dataclass(frozen=True)
class Concept:
    """Something owners ask about that lives in no metric yet, and what would bring it in."""

    words: re.Pattern[str]
    subject: str
    data: str


CONCEPTS: tuple[Concept, ...] = (
    Concept(
        re.compile(r"\b(churn\w*|cancell?ations?|subscri\w+|retention|retain\w*|repeat customers?)\b", re.I),
        "customer churn and retention",
        "a customer or subscription metric (e.g. active_customers, churned_customers): the Stripe "
        "connector brings subscription billing, or upload a CSV export from your CRM",
    ),
    Concept(
        re.compile(r"\b(profits?|margins?|cogs|cost of goods|gross profit|net income|expenses?)\b", re.I),
        "profit and margins",
        "cost data (e.g. cogs or unit_cost per product): upload your accounting export as a CSV or "
        "connect it with the PostgreSQL or REST/JSON connector",
    ),
    Concept(
        re.compile(r"\b(reviews?|ratings?|nps|satisfaction|complaints?)\b", re.I),
        "customer satisfaction",
        "a satisfaction metric (e.g. review_score or nps): upload the scores as a CSV or pull them "
        "with the REST/JSON connector",
    ),
    Concept(
        re.compile(r"\b(website|web traffic|sessions|conversion rate|bounce rate|page views?)\b", re.I),
        "website traffic and conversion",
        "web analytics metrics (e.g. sessions, conversion_rate): the REST/JSON connector can read "
        "your analytics API, or upload a CSV export",
    ),
    Concept(
        re.compile(r"\b(competitors?|market share|weather|inflation)\b", re.I),
        "the market outside your business",
        "an external series (e.g. competitor_price or a market index) uploaded as a CSV or read "
        "with the REST/JSON connector; the coach only answers from data you connect",
    ),
)


@dataclass
class Plan:
    intent: str
    calls: list[AgentCall] = field(default_factory=list)
    metric: CatalogEntry | None = None
    unserved: Concept | None = None


def _span_days(entry: CatalogEntry) -> float:
    if entry.first_ts is None or entry.last_ts is None:
        return 0.0
    return (entry.last_ts - entry.first_ts).total_seconds() / 86400


def _forecast_arguments(question: str, entry: CatalogEntry, *, advice: bool) -> dict[str, Any]:
    arguments: dict[str, Any] = {"metric": entry.name}
    if _span_days(entry) < MONTHLY_MIN_DAYS:
        return arguments
    stated = parse_horizon(question)
    if stated is not None and stated.unit in _MONTHS_AHEAD:
        arguments["period"] = "month"
    elif advice and stated is None:
        arguments |= {"period": "month", "horizon": ADVICE_FORECAST_MONTHS}
    return arguments


def unserved_concept(question: str) -> Concept | None:
    return next((concept for concept in CONCEPTS if concept.words.search(question)), None)


def _buys_ads(entries: Sequence[CatalogEntry]) -> bool:
    return any(entry.name.startswith("ad_spend") for entry in entries)


def plan(question: str, agents: Sequence[AgentName], entries: Sequence[CatalogEntry]) -> Plan:
    """The agents to run for ``question`` (the classifier chose ``agents``) on the tenant's catalog."""
    if not entries and agents:
        return Plan("no_data")
    if _WHAT_IF.search(question):
        return Plan("what_if", [AgentCall("optimizer")])
    names = [entry.name for entry in entries]
    named = match_metrics(question, names)
    entry = entries[names.index(named[0])] if named else None
    if entry is not None and not agents:
        # The wording matched no kind of request, but it names a metric: its outlook or its drivers.
        agents = ["forecaster"] if _OUTLOOK_WORDS.search(question) else ["evidence_analyzer"]
    if entry is None:
        concept = unserved_concept(question)
        # "What is my profit margin?" is a figure the tenant has no data for, even when the
        # classifier hears the optimizer in it; "the best product mix" is a decision to plan.
        if concept is not None and ("optimizer" not in agents or not _DECISION_WORDS.search(question)):
            return Plan("unserved", unserved=concept)
        return Plan("agents", [AgentCall(agent) for agent in agents])
    if _ADVICE.search(question) and not _GOAL_WORDS.search(question) and "optimizer" not in agents:
        calls = [
            AgentCall("evidence_analyzer", {"outcome": entry.name}),
            AgentCall("forecaster", _forecast_arguments(question, entry, advice=True)),
        ]
        if _buys_ads(entries) and entry.favourable_direction != "down":
            calls.append(AgentCall("optimizer", {"template": "budget_allocation"}))
        return Plan("advice", calls, entry)
    if "forecaster" in agents:
        calls = [AgentCall("forecaster", _forecast_arguments(question, entry, advice=False))]
        if "evidence_analyzer" not in agents:
            calls.append(AgentCall("evidence_analyzer", {"outcome": entry.name}))
        calls += [AgentCall(agent) for agent in agents if agent not in ("forecaster",)]
        return Plan("outlook", _unique(calls), entry)
    return Plan("agents", [AgentCall(agent) for agent in agents], entry)


def _unique(calls: list[AgentCall]) -> list[AgentCall]:
    seen: set[str] = set()
    kept = []
    for call in calls:
        if call.agent not in seen:
            seen.add(call.agent)
            kept.append(call)
    return kept
