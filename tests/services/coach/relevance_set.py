"""The labelled memory-relevance set (tests/data/memory_relevance.json), scored by an embedder."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from backend.services.coach.embeddings import Embedder
from backend.services.coach.relevance import ScoredPair

DATA = Path(__file__).resolve().parents[2] / "data" / "memory_relevance.json"
NO_TENANT = uuid.UUID(int=0)


@dataclass(frozen=True)
class ScoredSet:
    pairs: list[ScoredPair]
    # Per query about nothing stored: its best similarity to any remembered message.
    unrelated_best: dict[str, float]


def load() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DATA.read_text())
    return data


async def score(embedder: Embedder) -> ScoredSet:
    data = load()
    memories: dict[str, str] = data["memories"]
    queries = sorted({pair["query"] for pair in data["pairs"]} | set(data["unrelated_queries"]))
    keys = list(memories)
    vectors = np.asarray(
        await embedder.embed(NO_TENANT, [memories[k] for k in keys] + queries), dtype=np.float64
    )
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    memory_vectors = dict(zip(keys, vectors[: len(keys)], strict=True))
    query_vectors = dict(zip(queries, vectors[len(keys) :], strict=True))
    pairs = [
        ScoredPair(
            float(query_vectors[pair["query"]] @ memory_vectors[pair["memory"]]), bool(pair["relevant"])
        )
        for pair in data["pairs"]
    ]
    stacked = np.stack([memory_vectors[k] for k in keys])
    unrelated = {query: float(np.max(stacked @ query_vectors[query])) for query in data["unrelated_queries"]}
    return ScoredSet(pairs, unrelated)
