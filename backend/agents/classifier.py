"""The offline classifier: which agents a question needs, by embedding similarity to labelled examples.

Used when no language model is configured (or none answered). The question is split into
clauses ("forecast revenue, then set a goal") so one question can ask for several
agents; each clause goes to the label whose closest examples (mean of the best
``TOP_K`` cosine similarities) are nearest, when that similarity reaches
``MIN_SIMILARITY``. The label ``none`` (greetings, thanks) and weak matches run no agent.
The examples are embedded once per process with the local model.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import numpy as np

from backend.agents.examples import EXAMPLES
from backend.agents.types import AGENT_NAMES, AgentName
from backend.services.coach.embeddings import Embedder

TOP_K = 2
MIN_SIMILARITY = 0.35
MIN_CLAUSE_WORDS = 3
_CLAUSE_SPLIT = re.compile(r"\?|;|\.\s|\b(?:and then|then|also|after that)\b|,\s*and\b", re.IGNORECASE)


@dataclass(frozen=True)
class Classification:
    agents: list[AgentName]
    scores: dict[str, float]  # best similarity per label over the clauses


@dataclass
class _Index:
    labels: list[str]
    vectors: np.ndarray


# Per embedder; two first requests racing may both embed the examples, which is harmless.
_indexes: dict[str, _Index] = {}


def clauses(question: str) -> list[str]:
    parts = [part.strip(" ,.") for part in _CLAUSE_SPLIT.split(question) if part and part.strip(" ,.")]
    usable = [part for part in parts if len(part.split()) >= MIN_CLAUSE_WORDS]
    return usable if len(usable) > 1 else [question.strip()]


async def _index(embedder: Embedder, tenant_id: uuid.UUID) -> _Index:
    index = _indexes.get(embedder.key)
    if index is None:
        labels = [label for label, texts in EXAMPLES.items() for _ in texts]
        texts = [text for texts in EXAMPLES.values() for text in texts]
        vectors = np.asarray(await embedder.embed(tenant_id, texts), dtype=np.float64)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        index = _Index(labels, vectors)
        _indexes[embedder.key] = index
    return index


async def warm(embedder: Embedder, tenant_id: uuid.UUID) -> None:
    """Embed the examples now (at start-up) rather than on the first offline question."""
    await _index(embedder, tenant_id)


def is_indexed(embedder: Embedder) -> bool:
    return embedder.key in _indexes


def _label_scores(index: _Index, vector: np.ndarray) -> dict[str, float]:
    similarities = index.vectors @ vector
    scores: dict[str, float] = {}
    for label in EXAMPLES:
        mine = np.sort(similarities[[i for i, name in enumerate(index.labels) if name == label]])[::-1]
        scores[label] = float(np.mean(mine[:TOP_K]))
    return scores


async def classify(embedder: Embedder, tenant_id: uuid.UUID, question: str) -> Classification:
    """The agents ``question`` asks for, in the order its clauses ask (possibly none)."""
    index = await _index(embedder, tenant_id)
    parts = clauses(question)
    raw = np.asarray(await embedder.embed(tenant_id, parts), dtype=np.float64)
    raw /= np.linalg.norm(raw, axis=1, keepdims=True)
    chosen: list[AgentName] = []
    best: dict[str, float] = {}
    for vector in raw:
        scores = _label_scores(index, vector)
        for label, score in scores.items():
            best[label] = max(best.get(label, -1.0), score)
        label = max(scores, key=lambda name: scores[name])
        if label == "none" or scores[label] < MIN_SIMILARITY:
            continue
        agent = next(name for name in AGENT_NAMES if name == label)
        if agent not in chosen:
            chosen.append(agent)
    return Classification(chosen, {label: round(score, 4) for label, score in best.items()})
