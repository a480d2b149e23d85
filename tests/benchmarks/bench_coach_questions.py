"""The offline coach on 40 owner questions about the demo shop, scored automatically.

Run: ``.venv/bin/python -m tests.benchmarks.bench_coach_questions`` (writes ``.bench/coach_questions.json``).

The demo shop (``backend.demo``, two years ending 2026-11-30) is loaded through the API into a
database of its own; no model is configured, so every answer is the offline composition. Each
question in ``coach_questions.json`` says what a good answer must contain; a question passes
when every check it asks for passes:

- **agents**: the agents it needs all ran (none for greetings and for data the shop lacks);
- **backed**: every number in the reply is backed by one of the answer's citations;
- **contains**: the phrases it must hold (the metric, December for the winter outlook, …);
- **driver**: it names a driver the shop really has (its ad spend drives online revenue);
- **interval**: each forecast figure it shows lies within the forecast's own interval;
- **honest**: it says what it needs or lacks instead of a figure.

Questions are asked once the app is warm (readiness), as a load balancer would send them.
Latency per question is reported too (one run, on whatever else the machine is doing), by kind
and by agent. A second pass asks the same questions of an instantly answering fake model
(``--skip-model`` leaves it out): it calls the tools each question needs (its ``model_arguments``,
else the demo shop's metric the question names) and answers at once, so each turn's time is the
coach's own — graph, router, usage, memory, embeddings and the agents' real work — per agent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import httpx

from backend.main import create_app
from backend.services.coach.providers import ToolCall
from tests.agents.demo_shop import load_demo_shop
from tests.agents.numbers import unbacked
from tests.benchmarks.bench_coach import InstantProvider, _percentiles, use_instant_model
from tests.benchmarks.support import app_settings, migrated_database

QUESTIONS = Path(__file__).with_name("coach_questions.json")
OUTPUT = Path(".bench/coach_questions.json")
BENCH_DATABASE = "dyocense_bench_coach_questions"
END = date(2026, 11, 30)
TRUE_DRIVERS = ("ad_spend",)
HONEST_WORDS = ("need", "can't", "cannot", "not ", "no ")
DEMO_METRICS = ("orders", "footfall")


@dataclass
class Score:
    question: str
    kind: str
    checks: dict[str, bool]
    agents: list[str]
    seconds: float
    reply: str = field(repr=False)

    @property
    def passed(self) -> bool:
        return all(self.checks.values())


def forecasts_within_intervals(body: dict[str, Any]) -> bool:
    """Every forecast mean cited lies within the narrowest interval cited for its period, and the
    reply shows at least one of them."""
    citations = body["citations"]
    means = [c for c in citations if c["method"].startswith("forecast mean")]
    if not means or not any(c["display"] in body["reply"] for c in means):
        return False
    for mean in means:
        same = [
            c for c in citations if c["period"] == mean["period"] and "prediction interval" in c["method"]
        ]
        lows = [c["value"] for c in same if "lower" in c["method"]]
        highs = [c["value"] for c in same if "upper" in c["method"]]
        if not lows or not highs or not max(lows) <= mean["value"] <= min(highs):
            return False
    return True


def score(expected: dict[str, Any], body: dict[str, Any], seconds: float) -> Score:
    reply: str = body["reply"]
    lowered = reply.lower()
    checks = {
        "agents": set(expected["agents"]) <= set(body["agents"])
        if expected["agents"]
        else body["agents"] == [],
        "backed": unbacked(reply, body["citations"]) == [],
        "contains": all(phrase.lower() in lowered for phrase in expected.get("contains", [])),
    }
    if expected.get("driver"):
        checks["driver"] = any(driver in reply for driver in TRUE_DRIVERS)
    if expected.get("interval"):
        checks["interval"] = forecasts_within_intervals(body)
    if expected.get("honest"):
        checks["honest"] = any(word in lowered for word in HONEST_WORDS)
    return Score(expected["question"], expected["kind"], checks, body["agents"], seconds, reply)


def _rate(scores: list[Score]) -> float:
    return round(sum(s.passed for s in scores) / len(scores), 3) if scores else 0.0


def report(scores: list[Score]) -> dict[str, Any]:
    kinds = sorted({s.kind for s in scores})
    check_names = sorted({name for s in scores for name in s.checks})
    return {
        "questions": len(scores),
        "pass_rate": _rate(scores),
        "by_kind": {kind: _rate([s for s in scores if s.kind == kind]) for kind in kinds},
        "by_check": {
            name: round(
                sum(s.checks[name] for s in scores if name in s.checks)
                / sum(name in s.checks for s in scores),
                3,
            )
            for name in check_names
        },
        "seconds": {
            "median": round(statistics.median(s.seconds for s in scores), 2),
            "max": round(max(s.seconds for s in scores), 2),
            "by_kind_median": {
                kind: round(statistics.median(s.seconds for s in scores if s.kind == kind), 2)
                for kind in kinds
            },
        },
        "failures": [
            {
                "question": s.question,
                "failed": [name for name, ok in s.checks.items() if not ok],
                "agents": s.agents,
                "reply": s.reply,
            }
            for s in scores
            if not s.passed
        ],
    }


async def wait_until_warm(client: httpx.AsyncClient) -> float:
    """Seconds until readiness reports the coach and the forecaster warm: a load balancer sends no
    chat before, so neither does the benchmark."""
    started = time.perf_counter()
    while True:
        ready = (await client.get("/api/ready")).json()
        if all(ready["checks"][check]["ok"] for check in ("coach_warm", "forecaster_warm")):
            return time.perf_counter() - started
        await asyncio.sleep(0.5)


def model_calls(expected: dict[str, Any]) -> tuple[ToolCall, ...]:
    """The tool calls a model would make for the question: each agent it needs, with arguments."""
    question: str = expected["question"]
    metric = next((m for m in DEMO_METRICS if m in question.lower()), "revenue")
    defaults: dict[str, dict[str, Any]] = {
        "goal_planner": {"objective": question, "metric": metric},
        "evidence_analyzer": {"outcome": metric},
        "forecaster": {"metric": metric, "horizon": 3, "period": "month"},
        "optimizer": {"template": "inventory"},
    }
    given = expected.get("model_arguments", {})
    return tuple(
        ToolCall(agent, given.get(agent, defaults[agent]), f"call_{i}")
        for i, agent in enumerate(expected["agents"])
    )


async def _ask(
    client: httpx.AsyncClient, headers: dict[str, str], question: str
) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    response = await client.post("/api/v1/coach/chat", headers=headers, json={"message": question})
    seconds = time.perf_counter() - started
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body, seconds


async def ask_all(
    app_url: str, owner_url: str, questions: list[dict[str, Any]], *, model: bool
) -> tuple[list[Score], list[Score]]:
    """The offline scores, and (with ``model``) the instant model's turns (latency and agents only)."""
    app = create_app(app_settings(app_url, owner_url))
    scores, instant = [], []
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=600) as client:
            tenant, _shop = await load_demo_shop(client, END)
            warm_seconds = await wait_until_warm(client)
            print(f"warm {warm_seconds:.1f}s after the shop was loaded")
            for expected in questions:
                body, seconds = await _ask(client, tenant.headers, expected["question"])
                scores.append(score(expected, body, seconds))
                print(f"{'pass' if scores[-1].passed else 'FAIL'} {seconds:6.1f}s {expected['question']}")
            if not model:
                return scores, instant
            provider = InstantProvider()
            use_instant_model(app, provider)
            for expected in questions:
                provider.calls = model_calls(expected)
                body, seconds = await _ask(client, tenant.headers, expected["question"])
                checks = {
                    "agents": sorted(body["agents"]) == sorted(expected["agents"]),
                    "model": body["usage"]["provider"] == InstantProvider.name,
                }
                instant.append(
                    Score(expected["question"], expected["kind"], checks, body["agents"], seconds, "")
                )
                print(
                    f"model {'pass' if instant[-1].passed else 'FAIL'} {seconds:6.2f}s {expected['question']}"
                )
    return scores, instant


def by_agent(scores: list[Score]) -> dict[str, dict[str, float]]:
    """Latency (ms) of the turns each agent ran in ("none": turns that ran no agent)."""
    names = [*sorted({a for s in scores for a in s.agents}), "none"]
    per = {
        name: [s.seconds * 1000 for s in scores if name in s.agents or (name == "none" and not s.agents)]
        for name in names
    }
    return {name: _percentiles(samples) for name, samples in per.items() if samples}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=None, help="Ask only the first N questions.")
    parser.add_argument("--skip-model", action="store_true", help="Leave out the instant-model pass.")
    args = parser.parse_args()
    questions = json.loads(QUESTIONS.read_text())["questions"][: args.limit]
    with migrated_database(BENCH_DATABASE) as (_server, urls):
        scores, instant = asyncio.run(ask_all(urls.app, urls.owner, questions, model=not args.skip_model))
    result = {
        "benchmark": "coach_questions",
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        **report(scores),
        "offline_ms_by_agent": by_agent(scores),
    }
    if instant:
        result["instant_model"] = {
            "what": "the same questions asked of a fake model that calls the tools they need and answers at "
            "once: each turn's time is the coach's own (graph, router, usage, memory, agents' real work)",
            "agents_as_asked": _rate(instant),
            "ms_by_agent": by_agent(instant),
            "failures": [{"question": s.question, "agents": s.agents} for s in instant if not s.passed],
        }
    OUTPUT.parent.mkdir(exist_ok=True)
    OUTPUT.write_text(json.dumps(result, indent=2))
    keys = (
        "questions",
        "pass_rate",
        "by_kind",
        "by_check",
        "seconds",
        "offline_ms_by_agent",
        "instant_model",
    )
    summary = {k: result[k] for k in keys if k in result}
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
