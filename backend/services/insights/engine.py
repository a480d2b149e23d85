"""The insight engine's metric pass (pure, CPU): every detector over one metric's history.

The service reads the history through the metric read path and runs this in the compute pool;
the benchmark runs it directly over simulated days. Each detector documents its rule.
"""

from __future__ import annotations

from backend.services.insights.changes import period_change, top_contributors, unusual_value
from backend.services.insights.health import metric_silence
from backend.services.insights.trends import record, trend_change
from backend.services.insights.types import Finding, MetricHistory


def detect_metric(history: MetricHistory) -> list[Finding]:
    """The findings of one metric as of ``history.today``: at most one per type and variant."""
    silent = metric_silence(history.metric, history.days, history.today)
    if silent is not None:
        return [silent]  # no data to judge: the silence is the news, not a "drop"
    change = period_change(history)
    found = [
        change,
        unusual_value(history),
        top_contributors(history, total_fired=change is not None),
        trend_change(history),
        record(history),
    ]
    return [finding for finding in found if finding is not None]


def detect_many(histories: list[MetricHistory]) -> list[Finding]:
    """``detect_metric`` of each history (one compute-pool call for a tenant's metrics)."""
    return [finding for history in histories for finding in detect_metric(history)]
