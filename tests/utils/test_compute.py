"""The compute pool: heavy work runs in worker processes, and a crashed worker does not break the API."""

from __future__ import annotations

import asyncio
import os

import pytest

from backend.services.errors import Unavailable
from backend.services.forecaster.warmup import stop_with_warmup
from backend.services.optimizer import SolveOptions, get_template, run_template
from backend.utils.compute import ComputePool, Report


async def test_a_dead_worker_is_a_503_and_the_pool_recovers() -> None:
    pool = ComputePool(max_workers=1)
    try:
        with pytest.raises(Unavailable) as crashed:
            await pool.run(os._exit, 3)
        assert crashed.value.context == {"reason": "compute_worker_crashed"}
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


def _count_to(n: int, report: Report) -> int:
    for step in range(1, n + 1):
        report(step / n, f"step {step} of {n}")
    return n * 10


async def test_cpu_work_in_a_worker_process_reports_progress_to_the_caller() -> None:
    pool = ComputePool(max_workers=1)
    received: list[tuple[float, str]] = []

    async def progress(fraction: float, message: str) -> None:
        received.append((fraction, message))

    try:
        assert await pool.run_reporting(_count_to, 3, progress=progress) == 30
    finally:
        pool.shutdown()
    # At least the last message arrives (messages sent between two polls collapse into the newest).
    assert received and received[-1] == (1.0, "step 3 of 3")
    assert all(0 < fraction <= 1 for fraction, _ in received)


def _never_ends() -> None:
    import time

    while True:
        time.sleep(1)


async def test_shutdown_cuts_a_running_warm_up_short_instead_of_waiting_for_it() -> None:
    pool = ComputePool(max_workers=1)
    warmup = asyncio.ensure_future(pool.run(_never_ends))
    while not getattr(pool._executor, "_processes", None):  # noqa: ASYNC110 - another process
        await asyncio.sleep(0.05)
    workers = list(pool._executor._processes.values())
    # Without the interruption this would wait for ever; the limit only guards the suite.
    await asyncio.wait_for(stop_with_warmup(warmup, pool), timeout=120)
    assert workers and all(not process.is_alive() for process in workers)
    assert warmup.done()


async def test_shutdown_after_a_finished_warm_up_lets_calls_end() -> None:
    pool = ComputePool(max_workers=1)
    warmup = asyncio.ensure_future(pool.run(os.getpid))
    worker_pid = await warmup
    await stop_with_warmup(warmup, pool)
    assert worker_pid != os.getpid() and warmup.result() == worker_pid
