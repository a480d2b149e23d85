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

OPTIMIZATION_RUNS = Counter(
    "optimization_runs",
    "Optimizer runs stored, by template and solve status (optimal, feasible, infeasible, ...)",
    ["template", "status"],
)
