"""Calibrate the coach's memory recall threshold on the labelled set (tests/data/memory_relevance.json).

Run: ``.venv/bin/python -m tests.benchmarks.bench_memory_relevance``
(writes ``.bench/memory_relevance.json``).

Embeds the set with the bundled local model (what recall uses by default), picks the
threshold that maximises F1, and reports its precision and recall next to those of the
configured ``COACH_RECALL_MIN_SIMILARITY``, plus the best similarity each query about
nothing stored reaches (it must stay below the threshold).
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import asdict
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from backend.config import LlmSettings
from backend.services.coach.embeddings import BUNDLED_MODEL, LocalEmbedder
from backend.services.coach.relevance import calibrate, quality_at
from tests.services.coach.relevance_set import load, score

OUTPUT = Path(".bench/memory_relevance.json")


async def measure() -> dict[str, object]:
    scored = await score(LocalEmbedder(BUNDLED_MODEL, 384))
    best = calibrate(scored.pairs)
    configured = LlmSettings().recall_min_similarity
    data = load()
    report = {
        "embedder": f"local:{BUNDLED_MODEL}",
        "pairs": len(scored.pairs),
        "relevant_pairs": sum(pair.relevant for pair in scored.pairs),
        "memories": len(data["memories"]),
        "best_f1": asdict(best),
        "configured": asdict(quality_at(scored.pairs, configured)),
        "unrelated_query_best_similarity": scored.unrelated_best,
    }
    return report


def main() -> None:
    report = asyncio.run(measure())
    OUTPUT.parent.mkdir(exist_ok=True)
    OUTPUT.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
