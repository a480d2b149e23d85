"""Offline routing of questions about data the tenant lacks: a figure to look up is unserved, a
decision still goes to the optimizer (which says what it needs)."""

from __future__ import annotations

import pytest

from backend.agents.intents import plan
from backend.services.metrics.repository import CatalogEntry

REVENUE = CatalogEntry(
    name="revenue",
    unit=None,
    description=None,
    aggregation="sum",
    currency="USD",
    favourable_direction="up",
    non_negative=True,
    display_format=None,
    source_rule="sum",
    source_priority=[],
    first_ts=None,
    last_ts=None,
    points=10,
)


@pytest.mark.parametrize(
    ("question", "intent"),
    [
        ("What is my profit margin?", "unserved"),
        ("How are my margins trending?", "unserved"),
        ("What is the best product mix given our margins?", "agents"),
        ("Plan my product mix for the best margin", "agents"),
    ],
)
def test_an_unserved_concept_goes_to_the_optimizer_only_as_a_decision(question: str, intent: str) -> None:
    routed = plan(question, ["optimizer"], [REVENUE])
    assert routed.intent == intent
    if intent == "unserved":
        assert routed.unserved is not None and routed.unserved.subject == "profit and margins"
    else:
        assert [call.agent for call in routed.calls] == ["optimizer"]
