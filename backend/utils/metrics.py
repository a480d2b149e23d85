"""Prometheus metrics the app exports (names are a contract with infra/ dashboards and alerts).

Labels are bounded: route templates, methods, status codes, operation kinds — never
tenant ids, user ids or raw paths.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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
    multiprocess_mode="max",
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
    multiprocess_mode="max",
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
    "job_queue_depth", "Jobs per procrastinate queue and status", ["queue", "status"], multiprocess_mode="max"
)
CONNECTOR_SYNCS = Counter("connector_syncs", "Connector syncs finished", ["connector", "outcome"])
EVIDENCE_ANALYSES = Counter(
    "evidence_analyses", "Causal analyses stored, by verdict (supported, fragile, not_supported)", ["verdict"]
)
