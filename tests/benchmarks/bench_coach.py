"""The coach: embedding throughput of the local model, and the overhead of a chat turn per agent.

Run: ``.venv/bin/python -m tests.benchmarks.bench_coach [--chat-turns 30]`` (writes ``.bench/coach.json``).

1. Embeddings, through the same ``LocalEmbedder`` the app uses (normalised vectors, batch 32):
   the cold load time of the model, the latency of one sentence (what a search query costs),
   and sentences per second when embedding a batch of chat messages, single-threaded as the
   shared CI machine runs it (OMP/torch threads = 1 unless the environment says otherwise).
2. Chat overhead excluding model time: p50/p95 of ``POST /api/v1/coach/chat`` per agent on an
   app over the embedded PostgreSQL (its own database, seeded through the API), in two modes:
   ``offline`` (no model: embedding classifier and templates) and ``model`` (an in-process fake
   provider that answers instantly: one tool call, then the answer — so the time is the graph,
   router, usage rows, memory, embeddings and the agent's service call, never a model).
   Each turn includes storing the exchange with embeddings and the agent's own compute
   (the forecaster's backtest and the optimizer's solve run in the app's process pool).
"""

from __future__ import annotations

import argparse
import asyncio
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

import httpx
import torch
from fastapi import FastAPI

from backend.agents.registry import offline_templates
from backend.main import create_app
from backend.services.coach.embeddings import BUNDLED_MODEL, LocalEmbedder, load_sentence_model
from backend.services.coach.llm_router import LlmRouter
from backend.services.coach.providers import (
    ChatResult,
    OfflineProvider,
    TokenUsage,
    ToolCall,
)
from backend.services.coach.providers.base import DeltaSink, Messages, Tools
from tests.agents.seed import seed_daily, seed_inventory, seed_monthly, seed_revenue_driven_by_ads
from tests.benchmarks.support import app_settings, migrated_database
from tests.factories import create_tenant

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


BENCH_DATABASE = "dyocense_bench_coach"
QUESTIONS = {
    "goal_planner": "Grow revenue 20% this year",
    "evidence_analyzer": "What drives revenue?",
    "forecaster": "Forecast orders for the next 2 weeks",
    "optimizer": "How much stock should I reorder this week?",
}
ARGUMENTS: dict[str, dict[str, Any]] = {
    "goal_planner": {"objective": "grow revenue 20% this year", "metric": "revenue"},
    "evidence_analyzer": {"outcome": "revenue"},
    "forecaster": {"metric": "orders", "horizon": 14, "period": "day"},
    "optimizer": {"template": "inventory"},
}
WARMUP_TURNS = 2


class InstantProvider:
    """A local 'model' answering at once: a tool call for ``agent``, then (given the result) an answer."""

    name = "ollama"
    model = "instant-fake"
    is_local = True

    def __init__(self) -> None:
        self.agent = "goal_planner"
        self.calls: tuple[ToolCall, ...] | None = None
        """The tool calls of the next turns (default: ``agent`` with its benchmark arguments)."""

    async def chat(
        self, messages: Messages, tools: Tools = (), on_delta: DeltaSink | None = None
    ) -> ChatResult:
        answered = messages[-1].role == "tool"
        wanted = (
            self.calls if self.calls is not None else (ToolCall(self.agent, ARGUMENTS[self.agent], "call_0"),)
        )
        calls = () if answered or not tools else wanted
        return ChatResult(
            "Here is what the tools found." if answered else "",
            calls,
            TokenUsage(100, 20),
            0.0,
            self.name,
            self.model,
        )

    async def close(self) -> None:
        return None


def use_instant_model(app: FastAPI, provider: InstantProvider) -> LlmRouter:
    """Route the app's coach to ``provider`` as its only model; returns the router it had."""
    coach = app.state.coach
    previous: LlmRouter = coach.router
    coach.router = LlmRouter(
        app.state.database,
        app.state.settings.llm,
        local=provider,
        cloud=None,
        offline=OfflineProvider(offline_templates()),
        recorder=coach.recorder,
    )
    return previous


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    return {"p50": round(pick(0.5), 1), "p95": round(pick(0.95), 1), "turns": len(samples)}


async def _turns(client: httpx.AsyncClient, headers: dict[str, str], agent: str, turns: int) -> list[float]:
    samples = []
    for index in range(WARMUP_TURNS + turns):
        started = time.perf_counter()
        response = await client.post(
            "/api/v1/coach/chat", headers=headers, json={"message": QUESTIONS[agent]}
        )
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 200, response.text
        assert response.json()["agents"] == [agent], response.json()
        if index >= WARMUP_TURNS:
            samples.append(elapsed)
    return samples


async def chat_overhead(app_url: str, owner_url: str, turns: int) -> dict[str, Any]:
    """p50/p95 of a chat turn per agent, offline and with an instant fake model (see the module docstring)."""
    app = create_app(app_settings(app_url, owner_url))
    results: dict[str, Any] = {}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=120) as client:
            tenant = await create_tenant(client)
            await seed_monthly(client, tenant, "revenue", [1000, 1040, 1080, 1130, 1170, 1220, 1260, 1310])
            await seed_revenue_driven_by_ads(client, tenant)
            await seed_inventory(client, tenant)
            await seed_daily(client, tenant, "orders", 120)
            results["offline"] = {
                agent: _percentiles(await _turns(client, tenant.headers, agent, turns)) for agent in QUESTIONS
            }
            provider = InstantProvider()
            offline_router = use_instant_model(app, provider)
            model: dict[str, Any] = {}
            for agent in QUESTIONS:
                provider.agent = agent
                model[agent] = _percentiles(await _turns(client, tenant.headers, agent, turns))
            results["model"] = model
            app.state.coach.router = offline_router
    return results


def chat_benchmark(turns: int) -> dict[str, Any]:
    """Migrate a fresh database (outside any event loop: Alembic runs its own), measure, drop it."""
    with migrated_database(BENCH_DATABASE) as (_, urls):
        return asyncio.run(chat_overhead(urls.app, urls.owner, turns))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chat-turns", type=int, default=30, help="measured chat turns per agent and mode")
    args = parser.parse_args()
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
    report["chat_turn_ms"] = {
        "what": "POST /api/v1/coach/chat end to end, excluding model time (offline templates, or an instant "
        "fake model answering one tool call then the answer)",
        **chat_benchmark(args.chat_turns),
    }
    OUTPUT.parent.mkdir(exist_ok=True)
    OUTPUT.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
