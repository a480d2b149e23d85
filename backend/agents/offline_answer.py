"""The offline answer: sentences composed from what the agents computed, every number cited.

Used when no language model is configured. The answer leads with the metric's recent change,
then its outlook (the forecast with its interval, and last year's season for the coming
months), what drives it (the evidence), where its goals stand, and the optimizer's plan. A
figure is shown only as an agent or :mod:`backend.agents.metric_facts` displayed and cited it,
so the fact check has nothing to remove. A question the data cannot serve gets a short answer
naming the data or connector that would let the coach answer it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from backend.agents.citations import Backing, Citation, display_number
from backend.agents.intents import Concept
from backend.agents.metric_facts import MetricFacts, month_name
from backend.agents.types import AgentResult

LABEL = (
    "[Offline answer: no language model is configured, so this was composed from the analyses' "
    "results; every number is cited.]"
)
NO_DATA = (
    "You have no data yet, so there is nothing I can measure: connect a data source "
    "(POST /api/v1/data-sources): Shopify or Stripe bring daily revenue and orders, and a CSV or "
    "Excel upload brings any other metric."
)
LISTED_PERIODS = 4


@dataclass
class Composed:
    reply: str
    citations: list[Citation] = field(default_factory=list)


def _period_label(start: str, frequency: str) -> str:
    day = date.fromisoformat(start)
    if frequency == "month":
        return month_name(day)
    return f"the {frequency} of {start}" if frequency == "week" else start


def _bounds(row: dict[str, Any], level: int) -> str:
    return f"{display_number(row['lower'][level])} to {display_number(row['upper'][level])}"


def _forecast(result: AgentResult, facts: MetricFacts | None) -> list[str]:
    data = result.data
    rows: list[dict[str, Any]] = data["forecast"]
    frequency, metric = data["frequency"], data["metric"]
    level = min(data["levels"]) if data["levels"] else None
    parts = []
    for row in rows[:LISTED_PERIODS]:
        text = f"{_period_label(row['period_start'], frequency)} {display_number(row['mean'])}"
        if level is not None:
            text += f" ({level}% interval {_bounds(row, level)})"
        parts.append(text)
    more = ""
    if len(rows) > LISTED_PERIODS:
        last = rows[-1]
        more = f", through {_period_label(last['period_start'], frequency)} {display_number(last['mean'])}"
    sentences = [
        f"Outlook for {metric} per {frequency} (model {data['model']}, chosen by backtest): "
        + "; ".join(parts)
        + more
        + "."
    ]
    sentences += [line for line in result.report if _is_note(line)]
    if facts is not None and facts.season:
        sentences += facts.season
        sentences += _peak_check(rows, frequency, facts)
    return sentences


def _is_note(line: str) -> bool:
    return line.startswith(("Backtested", "Warning", "The forecaster raised"))


def _peak_check(rows: list[dict[str, Any]], frequency: str, facts: MetricFacts) -> list[str]:
    """Say so when the forecast is flat through a month that peaked last year."""
    if frequency != "month" or not facts.peak_months or len(rows) < 2:
        return []
    means = {month_name(date.fromisoformat(r["period_start"])).split()[0]: r["mean"] for r in rows}
    flat = [m for m in facts.peak_months if m in means and means[m] <= max(means.values()) * 1.02]
    if not flat or max(means.values()) > min(means.values()) * 1.1:
        return []
    return [
        f"The forecast model does not reproduce last year's {' and '.join(flat)} peak: if this year "
        f"follows last year's season, expect {' and '.join(flat)} above the forecast."
    ]


def _drivers(result: AgentResult) -> list[str]:
    data = result.data
    outcome = data["outcome"]
    if data.get("source") == "stored analyses":
        return list(result.report)
    screened = data.get("screened", [])
    if not screened:
        return [f"No candidate driver of {outcome} passed the false-discovery threshold in your data."]
    names = ", ".join(f"{row['name']} (correlation {display_number(row['correlation'])})" for row in screened)
    sentences = [
        f"What moves with {outcome} in your data: {names}. This is an association screening: "
        "refutation tests not run yet."
    ]
    for row in data.get("estimates", []):
        sentences.append(
            f"Adjusted for the others, one more unit of {row['treatment']} goes with "
            f"{display_number(row['effect'])} more {outcome} (95% interval {display_number(row['ci'][0])} "
            f"to {display_number(row['ci'][1])})."
        )
    return sentences


_ASIDE = re.compile(r"\s*\([^()]*\d[^()]*\)")
_ZERO = re.compile(r"(?<![\w.,])0(?![\w%]|[.,]\d)")


def without_unbacked_asides(line: str, backing: Backing) -> str:
    """``line`` without the bracketed asides whose figures no citation backs (an example such as
    "(e.g. '$10,000')" in what an agent needs is not a figure about the shop); a bare 0 in such a
    line is written as a word ("starting at spend zero")."""
    line = _ASIDE.sub(lambda aside: "" if backing.unbacked(aside.group(0)) else aside.group(0), line)
    return _ZERO.sub("zero", line) if backing.unbacked(line) else line


def _section(result: AgentResult, facts: MetricFacts | None) -> list[str]:
    if result.status == "ok" and result.agent == "forecaster":
        return _forecast(result, facts)
    if result.status == "ok" and result.agent == "evidence_analyzer":
        return _drivers(result)
    backing = Backing(result.citations)
    return [without_unbacked_asides(line, backing) for line in result.report]


def compose(results: Sequence[AgentResult], facts: MetricFacts | None) -> Composed:
    """The answer to the latest question from ``results`` and ``facts``: the change, the outlook,
    the drivers, the goals, then anything else (plans, drafts, what an agent still needs)."""
    sentences: list[str] = list(facts.change) if facts is not None else []
    first = ("forecaster", "evidence_analyzer")
    ordered = [r for a in first for r in results if r.agent == a] + [
        r for r in results if r.agent not in first
    ]
    for index, result in enumerate(ordered):
        if (
            facts is not None
            and result.agent not in first
            and (index == 0 or ordered[index - 1].agent in first)
        ):
            sentences += facts.goals
        sentences += _section(result, facts)
    if facts is not None and all(r.agent in first for r in ordered):
        sentences += facts.goals
    citations = facts.citations if facts is not None else []
    body = " ".join(sentence[:1].upper() + sentence[1:] for sentence in sentences)
    return Composed("\n\n".join([LABEL, body or "No analysis returned a result."]), citations)


def unserved(concept: Concept, known: Sequence[str]) -> str:
    """A short, honest answer to a question about data the tenant does not have."""
    if not known:
        return NO_DATA
    return (
        f"I can't answer that from your data: nothing you have connected measures {concept.subject}. "
        f"What would let me: {concept.data}. Your metrics today: {', '.join(known)}."
    )
