"""The offline classifier with the real local embedding model."""

from __future__ import annotations

import uuid

import pytest

from backend.agents.classifier import classify, clauses
from backend.services.coach.embeddings import BUNDLED_MODEL, LocalEmbedder

EMBEDDER = LocalEmbedder(BUNDLED_MODEL, 384)


@pytest.mark.parametrize(
    ("question", "agents"),
    [
        ("Grow revenue 20% this year", ["goal_planner"]),
        ("Why are sales down?", ["evidence_analyzer"]),
        ("What will orders look like over the next 8 weeks?", ["forecaster"]),
        ("How much mug and teapot stock should I reorder?", ["optimizer"]),
        ("Forecast revenue next quarter, then set a goal to grow it 10%", ["forecaster", "goal_planner"]),
        ("Good afternoon!", []),
    ],
)
async def test_questions_go_to_the_agents_they_ask_for(question: str, agents: list[str]) -> None:
    result = await classify(EMBEDDER, uuid.uuid4(), question)
    assert result.agents == agents, result.scores


def test_a_question_is_split_into_clauses_only_when_each_says_something() -> None:
    assert clauses("Forecast revenue next quarter, then set a goal to grow it") == [
        "Forecast revenue next quarter",
        "set a goal to grow it",
    ]
    assert clauses("Why? Because") == ["Why? Because"]
