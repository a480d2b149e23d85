"""The benchmarks' stand-ins keep the shape of what they stand in for (benchmarks are not run by
the suite, so drift would only show when someone runs ``make bench``)."""

from __future__ import annotations

import inspect

from backend.services.coach.providers.base import LlmProvider
from tests.benchmarks.bench_coach import InstantProvider


def test_the_coach_benchmark_provider_takes_what_the_router_passes() -> None:
    for member in ("chat", "close"):
        ours = inspect.signature(getattr(InstantProvider, member)).parameters
        protocol = inspect.signature(getattr(LlmProvider, member)).parameters
        assert list(ours) == list(protocol), member
