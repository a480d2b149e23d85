"""Prometheus metrics the app exports (names are a contract with infra/ dashboards and alerts).

Labels are bounded: route templates, methods, status codes, operation kinds — never
tenant ids, user ids or raw paths.

Several processes (``uvicorn --workers N`` / ``WEB_CONCURRENCY``, the compute pool's
children, or several workers on one host) share their numbers through prometheus_client's
multiprocess mode: set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory, private to one
API (or one worker) instance, *before* the processes start, and empty it on every start
(compose mounts a tmpfs). ``/metrics`` then serves the sum over processes: counters and
histograms add up, and each gauge declares how its per-process values combine
(``multiprocess_mode``). The ``live*`` modes drop the values of processes that are gone:
a process marks itself dead when it exits, and every scrape sweeps the files of processes
that died without doing so (a crashed uvicorn worker that its supervisor replaced).
"""

from __future__ import annotations

import atexit
import os
import re
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

HTTP_REQUESTS = Counter("http_requests", "HTTP requests handled", ["method", "route", "status"])
HTTP_REQUEST_DURATION = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency (until the response is fully sent)",
    ["method", "route", "status"],
    buckets=_LATENCY_BUCKETS,
)
DB_QUERY_DURATION = Histogram(
    "db_query_duration_seconds",
    "Database statement latency by kind of statement",
    ["operation"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0),
)
DB_POOL_SIZE = Gauge("db_pool_size", "Connections the pool keeps open", multiprocess_mode="livesum")
DB_POOL_CHECKED_OUT = Gauge("db_pool_checked_out", "Connections in use", multiprocess_mode="livesum")
DB_POOL_OVERFLOW = Gauge("db_pool_overflow", "Connections beyond the pool size", multiprocess_mode="livesum")
APP_INFO = Gauge(
    "dyocense_app_info",
    "Build and environment of the running app",
    ["version", "environment"],
    multiprocess_mode="livemax",
)

# The coach's LLM router. `provider` is ollama, openai or offline; `model` is the configured model name.
LLM_REQUESTS = Counter(
    "llm_requests", "LLM calls by outcome (success, error, timeout)", ["provider", "model", "outcome"]
)
LLM_COST_DOLLARS = Counter(
    "llm_cost_dollars", "Dollars spent on LLM calls (0 for local providers)", ["provider", "model"]
)
LLM_TOKENS = Counter(
    "llm_tokens",
    "LLM tokens; direction is in (prompt) or out (completion)",
    ["provider", "model", "direction"],
)
LLM_REQUEST_DURATION = Histogram(
    "llm_request_duration_seconds",
    "Duration of one LLM call",
    ["provider", "model"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0),
)
LLM_MONTHLY_BUDGET_DOLLARS = Gauge(
    "llm_monthly_budget_dollars",
    "Deployment-wide monthly LLM budget in dollars (0 = none)",
    multiprocess_mode="livemax",
)
OPTIMIZATION_RUNS = Counter(
    "optimization_runs",
    "Optimizer runs stored, by template and solve status (optimal, feasible, infeasible, ...)",
    ["template", "status"],
)

# Background jobs (exported by the worker, backend/worker.py) and connectors.
JOB_RUNS = Counter("job_runs", "Finished job attempts", ["task", "outcome"])
JOB_DURATION = Histogram(
    "job_duration_seconds",
    "Run time of one job attempt",
    ["task"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0),
)
JOB_QUEUE_DEPTH = Gauge(
    "job_queue_depth",
    "Jobs per procrastinate queue and status",
    ["queue", "status"],
    # A reading of shared tables: the latest reading of a live process is the truth.
    multiprocess_mode="livemostrecent",
)
CONNECTOR_SYNCS = Counter("connector_syncs", "Connector syncs finished", ["connector", "outcome"])
FORECASTS = Counter("forecasts", "Forecasts computed, by outcome (success, failure)", ["outcome"])
EVIDENCE_ANALYSES = Counter(
    "evidence_analyses", "Causal analyses stored, by verdict (supported, fragile, not_supported)", ["verdict"]
)


# --------------------------------------------------------------------------- multiprocess mode
_LIVE_GAUGE_FILE = re.compile(r"gauge_live[a-z]+_(\d+)\.db")


def multiprocess_dir() -> str | None:
    """``PROMETHEUS_MULTIPROC_DIR`` when multiprocess mode is on, else None."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


def sweep_dead_processes(directory: str) -> list[int]:
    """Mark dead every process whose live-gauge files remain but which no longer exists.

    The directory is private to one host (container), so its pids are this host's pids.
    """
    pids = {
        int(match.group(1))
        for path in Path(directory).glob("gauge_live*_*.db")
        if (match := _LIVE_GAUGE_FILE.fullmatch(path.name))
    }
    dead = sorted(pid for pid in pids if not _process_exists(pid))
    for pid in dead:
        mark_process_dead(pid, directory)
    return dead


class _LiveMultiProcessCollector(MultiProcessCollector):
    """Aggregates the processes' files, after sweeping those of processes that died unannounced."""

    def collect(self) -> Iterable[Metric]:
        sweep_dead_processes(self._path)
        return super().collect()


def exposition_registry() -> CollectorRegistry:
    """The registry to expose: every process's samples in multiprocess mode, else this process's."""
    directory = multiprocess_dir()
    if directory is None:
        return REGISTRY
    registry = CollectorRegistry()
    _LiveMultiProcessCollector(registry, path=directory)
    return registry


def mark_this_process_dead() -> None:
    """Drop this process's live gauges from the aggregate (it is shutting down); idempotent."""
    directory = multiprocess_dir()
    if directory is not None and os.path.isdir(directory):
        mark_process_dead(os.getpid(), directory)


# The job worker and the compute pool's children exit through sys.exit, which runs atexit.
# uvicorn's workers do not (after a graceful shutdown they re-raise SIGTERM and die of it): the
# request middleware marks them dead when the ASGI lifespan completes its shutdown.
atexit.register(mark_this_process_dead)
