"""Warm the coach at start-up, in the background, so the first chat costs what the second does.

What a cold process pays on its first chat: importing sentence-transformers (and torch),
loading the bundled embedding model, its first encode, embedding the offline classifier's
labelled examples, and FastAPI building the coach router's routes (it builds an included
router's routes on the first request that reaches it). All of it is process-wide (the model
and the example index are cached per process), so warming once serves every chat after it.
Start-up does not wait: the warm-up runs as a task, readiness reports it (``coach_warm``:
warming, ready or failed), and a failed warm-up is only logged — the first chat then pays
the cost, as before.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import structlog

from backend.agents import classifier
from backend.agents.runtime import CoachRuntime

logger = structlog.get_logger(__name__)

# The local embedder ignores the tenant; nothing is recorded for a warm-up.
_NO_TENANT = uuid.UUID(int=0)
_WARM_TEXT = "How is revenue doing this month?"

WarmState = Literal["warming", "ready", "failed"]


@dataclass
class CoachWarmup:
    """The warm-up task and what it has done so far (read by readiness)."""

    task: asyncio.Task[None] | None = None
    state: WarmState = "warming"
    detail: str = "loading the embedding model"
    seconds: float | None = None

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()


async def warm(runtime: CoachRuntime, warmup: CoachWarmup, prepare: Callable[[], None] | None = None) -> None:
    """Run ``prepare`` and load the local embedding model (both off the event loop), then index
    the classifier's examples."""
    started = time.perf_counter()
    local = runtime.embeddings.local
    try:
        if prepare is not None:
            await asyncio.to_thread(prepare)
        await asyncio.to_thread(local.encode, [_WARM_TEXT])
        warmup.detail = "indexing the classifier's examples"
        await classifier.warm(local, _NO_TENANT)
    except Exception as error:  # never let a warm-up failure reach start-up or shutdown
        warmup.state, warmup.detail = "failed", f"failed: {type(error).__name__}"
        logger.warning("coach_warmup_failed", error=type(error).__name__)
        return
    warmup.seconds = time.perf_counter() - started
    warmup.state, warmup.detail = "ready", f"embedding model {local.key} loaded, classifier indexed"
    logger.info("coach_warm", seconds=round(warmup.seconds, 2), embedder=local.key)


def start_coach_warmup(runtime: CoachRuntime, prepare: Callable[[], None] | None = None) -> CoachWarmup:
    """Warm ``runtime`` in a background task, after the blocking ``prepare`` (e.g. building the
    app's routes); keep the returned object (it holds the task)."""
    warmup = CoachWarmup()
    warmup.task = asyncio.create_task(warm(runtime, warmup, prepare), name="coach-warmup")
    return warmup
