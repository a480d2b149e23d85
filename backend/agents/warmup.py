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

import structlog

from backend.agents import classifier
from backend.agents.runtime import CoachRuntime
from backend.utils.warmup import Warmup

logger = structlog.get_logger(__name__)

# The local embedder ignores the tenant; nothing is recorded for a warm-up.
_NO_TENANT = uuid.UUID(int=0)
_WARM_TEXT = "How is revenue doing this month?"


async def warm(runtime: CoachRuntime, warmup: Warmup, prepare: Callable[[], None] | None = None) -> None:
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
        warmup.failed(error)
        logger.warning("coach_warmup_failed", error=type(error).__name__)
        return
    seconds = time.perf_counter() - started
    warmup.finished(f"embedding model {local.key} loaded, classifier indexed", seconds)
    logger.info("coach_warm", seconds=round(seconds, 2), embedder=local.key)


def start_coach_warmup(runtime: CoachRuntime, prepare: Callable[[], None] | None = None) -> Warmup:
    """Warm ``runtime`` in a background task, after the blocking ``prepare`` (e.g. building the
    app's routes); keep the returned object (it holds the task)."""
    warmup = Warmup(detail="loading the embedding model")
    warmup.task = asyncio.create_task(warm(runtime, warmup, prepare), name="coach-warmup")
    return warmup
