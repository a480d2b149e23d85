"""Embedding throughput of the coach's local model (all-MiniLM-L6-v2 on the CPU).

Run: ``.venv/bin/python -m tests.benchmarks.bench_coach`` (writes ``.bench/coach.json``).

Measures, through the same ``LocalEmbedder`` the app uses (normalised vectors, batch 32):
the cold load time of the model, the latency of one sentence (what a search query costs),
and sentences per second when embedding a batch of chat messages, single-threaded as the
shared CI machine runs it (OMP/torch threads = 1 unless the environment says otherwise).
"""

from __future__ import annotations

import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import torch

from backend.services.coach.embeddings import BUNDLED_MODEL, LocalEmbedder, load_sentence_model

OUTPUT = Path(".bench/coach.json")
SENTENCES = 1024
REPEATS = 3
SINGLE_QUERIES = 50

_SUBJECTS = [
    "revenue",
    "orders",
    "ad spend",
    "inventory of mugs",
    "weekend staffing",
    "gross margin",
    "churn",
]
_PERIODS = [
    "last week",
    "in March",
    "this quarter",
    "since the price change",
    "over the holidays",
    "yesterday",
]
_ASKS = [
    "Why did {s} change {p}?",
    "Forecast {s} for next month compared with {p}.",
    "How should I split the budget if {s} keeps falling {p}?",
    "Set a goal to improve {s} by 10% after {p}.",
    "What drove {s} {p}, and what should I do about it?",
]


def corpus(size: int, seed: int = 7) -> list[str]:
    """Short chat-like questions (about 8–16 words), generated from templates."""
    rng = random.Random(seed)
    return [rng.choice(_ASKS).format(s=rng.choice(_SUBJECTS), p=rng.choice(_PERIODS)) for _ in range(size)]


def main() -> None:
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    embedder = LocalEmbedder(BUNDLED_MODEL, 384)
    started = time.perf_counter()
    load_sentence_model(BUNDLED_MODEL)
    load_seconds = time.perf_counter() - started

    texts = corpus(SENTENCES)
    embedder.encode(texts[:64])  # warm-up
    rates = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        vectors = embedder.encode(texts)
        rates.append(len(texts) / (time.perf_counter() - started))
    assert len(vectors) == SENTENCES and len(vectors[0]) == 384

    single = []
    for text in texts[:SINGLE_QUERIES]:
        started = time.perf_counter()
        embedder.encode([text])
        single.append((time.perf_counter() - started) * 1000)
    single.sort()

    report: dict[str, Any] = {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "model": BUNDLED_MODEL,
        "model_load_seconds": round(load_seconds, 3),
        "sentences": SENTENCES,
        "mean_words_per_sentence": round(statistics.fmean(len(t.split()) for t in texts), 1),
        "batch_size": 32,
        "throughput_sentences_per_second": {
            "median": round(statistics.median(rates), 1),
            "runs": [round(rate, 1) for rate in rates],
        },
        "single_sentence_ms": {
            "p50": round(single[len(single) // 2], 2),
            "p95": round(single[int(len(single) * 0.95) - 1], 2),
        },
    }
    OUTPUT.parent.mkdir(exist_ok=True)
    OUTPUT.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
