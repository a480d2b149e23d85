"""The benchmarks' stand-ins keep the shape of what they stand in for (benchmarks are not run by
the suite, so drift would only show when someone runs ``make bench``)."""

from __future__ import annotations

import inspect
import json

from backend.agents.registry import TOOL_SPECS
from backend.services.coach.providers.base import LlmProvider
from tests.benchmarks.bench_coach import InstantProvider
from tests.benchmarks.bench_coach_questions import QUESTIONS, model_calls


def test_the_coach_benchmark_provider_takes_what_the_router_passes() -> None:
    for member in ("chat", "close"):
        ours = inspect.signature(getattr(InstantProvider, member)).parameters
        protocol = inspect.signature(getattr(LlmProvider, member)).parameters
        assert list(ours) == list(protocol), member


def test_the_instant_model_calls_each_question_s_agents_with_arguments_their_tools_accept() -> None:
    specs = {spec.name: spec.parameters for spec in TOOL_SPECS}
    questions = json.loads(QUESTIONS.read_text())["questions"]
    for expected in questions:
        calls = model_calls(expected)
        assert [c.name for c in calls] == expected["agents"], expected["question"]
        for call in calls:
            schema = specs[call.name]
            assert set(schema["required"]) <= set(call.arguments) <= set(schema["properties"]), call
            template = call.arguments.get("template")
            assert template is None or template in schema["properties"]["template"]["enum"], call
    staffing = next(q for q in questions if "staff" in q["question"])
    assert model_calls(staffing)[0].arguments == {"template": "staffing"}
