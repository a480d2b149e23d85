"""The start-up warm-up imports statsforecast in the compute workers before any request."""

from __future__ import annotations

import sys

from backend.services.forecaster.warmup import start_warmup
from backend.utils.compute import ComputePool


def _statsforecast_loaded() -> bool:
    return "statsforecast" in sys.modules


async def test_warmup_loads_statsforecast_in_the_compute_worker() -> None:
    pool = ComputePool(max_workers=1)
    try:
        warmup = start_warmup(pool)
        assert warmup.state == "warming"
        assert warmup.task is not None
        await warmup.task
        assert warmup.state == "ready" and warmup.detail.startswith("statsforecast loaded in 1 ")
        assert await pool.run(_statsforecast_loaded)
    finally:
        pool.shutdown()
