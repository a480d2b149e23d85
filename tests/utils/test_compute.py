"""The compute pool: heavy work runs in worker processes, and a crashed worker does not break the API."""

from __future__ import annotations

import os

import pytest

from backend.services.errors import Unavailable
from backend.services.optimizer import SolveOptions, get_template, run_template
from backend.utils.compute import ComputePool


async def test_a_dead_worker_is_a_503_and_the_pool_recovers() -> None:
    pool = ComputePool(max_workers=1)
    try:
        with pytest.raises(Unavailable) as crashed:
            await pool.run(os._exit, 3)
        assert crashed.value.details == {"reason": "compute_worker_crashed"}
        params = get_template("product_mix").example()
        result = await pool.run(run_template, "product_mix", params, SolveOptions(solver="highs"))
        assert result.status == "optimal"
        assert result.objective == run_template("product_mix", params, SolveOptions(solver="highs")).objective
        assert await pool.run(os.getpid) != os.getpid()
    finally:
        pool.shutdown()


def _native_threads() -> tuple[str | None, set[int]]:
    import numpy  # noqa: F401 - loads BLAS
    from threadpoolctl import threadpool_info

    return os.environ.get("OPENBLAS_NUM_THREADS"), {pool["num_threads"] for pool in threadpool_info()}


async def test_workers_run_one_native_thread_each(monkeypatch: pytest.MonkeyPatch) -> None:
    # Spawned workers copy this environment: without the pool's initializer BLAS would
    # start a thread per core.
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    pool = ComputePool(max_workers=1)
    try:
        variable, threads = await pool.run(_native_threads)
    finally:
        pool.shutdown()
    assert variable == "1"
    assert threads == {1}
