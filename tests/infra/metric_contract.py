"""The metric contract of infra/README.md, and reading the PromQL of dashboards and alerts.

Shared by the offline checks (test_deployment_files.py) and by any test that evaluates the
dashboards' queries against a running app: one list of what the app must export.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

INFRA = Path(__file__).resolve().parents[2] / "infra"
DASHBOARD_DIR = INFRA / "grafana" / "dashboards"
ALERTS_DIR = INFRA / "prometheus" / "alerts"

# --------------------------------------------------------------------------- the contract
# Mirrors the metric contract in infra/README.md (a test checks the two agree).
APP_COUNTERS = {
    "http_requests": {"method", "route", "status"},
    "llm_requests": {"provider", "model", "outcome"},
    "llm_cost_dollars": {"provider", "model"},
    "llm_tokens": {"provider", "model", "direction"},
    "job_runs": {"task", "outcome"},
    "forecasts": {"outcome"},
    "evidence_analyses": {"verdict"},
    "optimization_runs": {"template", "status"},
    "connector_syncs": {"connector", "outcome"},
}
APP_HISTOGRAMS = {
    "http_request_duration_seconds": {"method", "route", "status"},
    "db_query_duration_seconds": {"operation"},
    "llm_request_duration_seconds": {"provider", "model"},
    "job_duration_seconds": {"task"},
}
APP_GAUGES = {
    "db_pool_size": set(),
    "db_pool_checked_out": set(),
    "db_pool_overflow": set(),
    "job_queue_depth": {"queue", "status"},
    "dyocense_app_info": {"version", "environment"},
    "llm_monthly_budget_dollars": set(),
}
# Exporter series the dashboards and alerts use (node-exporter v1.9, postgres-exporter v0.17).
EXPORTER_METRICS = {
    "node_cpu_seconds_total": {"cpu", "mode"},
    "node_load1": set(),
    "node_load5": set(),
    "node_load15": set(),
    "node_memory_MemAvailable_bytes": set(),
    "node_memory_MemTotal_bytes": set(),
    "node_memory_Cached_bytes": set(),
    "node_memory_Buffers_bytes": set(),
    "node_memory_SwapTotal_bytes": set(),
    "node_memory_SwapFree_bytes": set(),
    "node_filesystem_avail_bytes": {"device", "fstype", "mountpoint"},
    "node_filesystem_size_bytes": {"device", "fstype", "mountpoint"},
    "node_disk_read_bytes_total": {"device"},
    "node_disk_written_bytes_total": {"device"},
    "node_network_receive_bytes_total": {"device"},
    "node_network_transmit_bytes_total": {"device"},
    "node_uname_info": {"nodename", "release", "sysname", "version", "machine", "domainname"},
    "pg_up": set(),
    "pg_database_size_bytes": {"datname"},
    "pg_stat_database_numbackends": {"datid", "datname"},
    "pg_stat_database_xact_commit": {"datid", "datname"},
    "pg_stat_database_xact_rollback": {"datid", "datname"},
    "pg_stat_database_blks_hit": {"datid", "datname"},
    "pg_stat_database_blks_read": {"datid", "datname"},
    "pg_stat_database_deadlocks": {"datid", "datname"},
    "pg_settings_max_connections": {"server"},
    "pg_locks_count": {"datname", "mode", "server"},
    "up": set(),
}
# Labels Prometheus attaches to every scraped series, and multiprocess gauges' pid.
TARGET_LABELS = {"job", "instance", "pid"}


def _allowed_metrics() -> dict[str, set[str]]:
    allowed: dict[str, set[str]] = {}
    for name, labels in APP_COUNTERS.items():
        allowed[f"{name}_total"] = labels
    for name, labels in APP_HISTOGRAMS.items():
        allowed[f"{name}_bucket"] = labels | {"le"}
        allowed[f"{name}_sum"] = labels
        allowed[f"{name}_count"] = labels
    allowed.update(APP_GAUGES)
    allowed.update(EXPORTER_METRICS)
    return {name: labels | TARGET_LABELS for name, labels in allowed.items()}


ALLOWED_METRICS = _allowed_metrics()


def dashboards() -> dict[str, dict]:
    """Dashboard file name -> parsed JSON."""
    return {path.name: json.loads(path.read_text()) for path in sorted(DASHBOARD_DIR.glob("*.json"))}


def panels(dashboard: dict):
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def _datasource_type(panel: dict, target: dict) -> str:
    return (target.get("datasource") or panel.get("datasource") or {}).get("type", "prometheus")


def panel_exprs(datasource: str = "prometheus") -> list[tuple[str, str, str]]:
    """(dashboard file, panel title, expr) for every target of every panel on ``datasource``
    (Prometheus by default; ``loki`` for the log panels)."""
    found = []
    for name, dashboard in dashboards().items():
        for panel in panels(dashboard):
            for target in panel.get("targets", []):
                if _datasource_type(panel, target) == datasource:
                    found.append((name, panel["title"], target["expr"]))
    return found


def alert_rules() -> list[dict]:
    rules = []
    for path in sorted(ALERTS_DIR.glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            rules.extend(group["rules"])
    return rules


GRAFANA_INTERVALS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


def substitute_grafana_variables(expr: str) -> str:
    """Replace Grafana's interval variables with durations and dashboard variables with '.*'."""
    for variable, value in GRAFANA_INTERVALS.items():
        expr = expr.replace("${" + variable[1:] + "}", value).replace(variable, value)
    return re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::[a-z]+)?\}|\$[A-Za-z_][A-Za-z0-9_]*", ".*", expr)


PROMQL_KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
    "inf",
    "nan",
}


def promql_selectors(expr: str) -> list[tuple[str, set[str]]]:
    """(metric name, label names in its matcher) for every vector selector of an expression.

    A small lexer, enough for our expressions: strings and grouping clauses are removed, an
    identifier followed by "(" is a function or aggregation, the rest are metric names.
    """
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\boffset\s+\S+", " ", text)
    selectors = []
    for match in re.finditer(r"(?<![\w.:])([A-Za-z_:][A-Za-z0-9_:]*)\s*(\{[^}]*\})?", text):
        name, matcher = match.group(1), match.group(2)
        if name.lower() in PROMQL_KEYWORDS or text[match.end() :].lstrip().startswith("("):
            continue
        if re.fullmatch(r"\d+(?:[eE]\d+)?", name):
            continue
        labels = set(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)", matcher or ""))
        selectors.append((name, labels))
    return selectors


def grouping_labels(expr: str) -> set[str]:
    labels: set[str] = set()
    for clause in re.findall(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", expr):
        labels |= {label.strip() for label in clause.split(",") if label.strip()}
    return labels


def check_expression_uses_contract(expr: str) -> list[str]:
    problems = []
    selectors = promql_selectors(substitute_grafana_variables(expr))
    if not selectors:
        problems.append(f"no metric found in {expr!r}")
    known_labels: set[str] = set()
    for name, labels in selectors:
        if name not in ALLOWED_METRICS:
            problems.append(f"metric {name!r} is not in the contract: {expr!r}")
            continue
        known_labels |= ALLOWED_METRICS[name]
        if unknown := labels - ALLOWED_METRICS[name]:
            problems.append(f"{name} has no label(s) {sorted(unknown)}: {expr!r}")
    if unknown := grouping_labels(expr) - known_labels - {""}:
        problems.append(f"grouping by unknown label(s) {sorted(unknown)}: {expr!r}")
    return problems


# Keys of every request's JSON log line (infra/README.md, log contract).
REQUEST_LOG_KEYS = frozenset(
    {
        "timestamp",
        "level",
        "event",
        "request_id",
        "tenant_id",
        "trace_id",
        "span_id",
        "route",
        "method",
        "status",
        "duration_ms",
    }
)
