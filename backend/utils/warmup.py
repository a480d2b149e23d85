"""A start-up warm-up running in the background, and what readiness says of it.

The API warms the coach (embedding model, classifier) and the forecaster (statsforecast's
imports and native code in every compute worker) without holding up start-up; readiness reports
each (``warming``, ``ready`` or ``failed``), and a failure is only logged: the first request that
needs the part then pays for loading it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal

WarmState = Literal["warming", "ready", "failed"]


@dataclass
class Warmup:
    """The warm-up task and what it has done so far (read by readiness)."""

    detail: str  # what it is doing, or what it did
    task: asyncio.Task[None] | None = None
    state: WarmState = "warming"
    seconds: float | None = None

    def finished(self, detail: str, seconds: float) -> None:
        self.state, self.detail, self.seconds = "ready", detail, seconds

    def failed(self, error: BaseException) -> None:
        self.state, self.detail = "failed", f"failed: {type(error).__name__}"

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()
