"""forecaster: the outlook of a metric, with prediction intervals and the model's backtested accuracy.

Runs the forecaster service in the caller's tenant session: the history is read there,
the backtested selection runs in the app's compute pool, and the forecast is stored, so
a number cited in chat can be found again under /api/v1/forecasts.
"""

from __future__ import annotations

from typing import Any

from backend.agents.common import catalog, pick_metric
from backend.agents.question import parse_horizon
from backend.agents.types import AgentDeps, AgentName, AgentResult, Citations, SuggestedAction
from backend.services.errors import ValidationFailed
from backend.services.forecaster import service as forecaster_service
from backend.services.forecaster.types import SYNC_MAX_HORIZON
from backend.services.workload import queue_reason
from backend.utils.calendar import DAYS_PER_PERIOD, check_period

AGENT: AgentName = "forecaster"
DEFAULT_HORIZON = {"day": 14, "week": 8, "month": 3}
# Chat answers at once, so never beyond what the service runs synchronously.
MAX_HORIZON = {
    frequency: min(steps, SYNC_MAX_HORIZON)
    for frequency, steps in {"day": 90, "week": 52, "month": 24}.items()
}
# Enough history to forecast at a frequency: two years of months, half a year of weeks.
MONTHLY_MIN_DAYS = 730
WEEKLY_MIN_DAYS = 182


def _frequency(arguments: dict[str, Any], span_days: float) -> str:
    wanted = arguments.get("period")
    if wanted in DEFAULT_HORIZON:
        return str(wanted)
    if span_days >= MONTHLY_MIN_DAYS:
        return "month"
    return "week" if span_days >= WEEKLY_MIN_DAYS else "day"


def _horizon(question: str, arguments: dict[str, Any], frequency: str) -> int:
    given = arguments.get("horizon")
    if isinstance(given, int) and given > 0:
        return min(given, MAX_HORIZON[frequency])
    stated = parse_horizon(question)
    if stated is None:
        return DEFAULT_HORIZON[frequency]
    steps = round(
        stated.count * DAYS_PER_PERIOD[check_period(stated.unit)] / DAYS_PER_PERIOD[check_period(frequency)]
    )
    return max(1, min(steps, MAX_HORIZON[frequency]))


async def run(deps: AgentDeps, question: str, arguments: dict[str, Any]) -> AgentResult:
    entries = await catalog(deps.session)
    entry, problem = pick_metric(question, arguments, "metric", entries)
    if entry is None:
        return AgentResult(
            AGENT, "needs_input", [f"Which metric should I forecast? {problem}"], data={"needs": ["metric"]}
        )
    if entry.first_ts is None or entry.last_ts is None:
        return AgentResult(
            AGENT, "needs_input", [f"{entry.name} has no data points yet."], data={"needs": ["data"]}
        )
    frequency = _frequency(arguments, (entry.last_ts - entry.first_ts).total_seconds() / 86400)
    horizon = _horizon(question, arguments, frequency)
    spec = forecaster_service.ForecastSpec(metric=entry.name, horizon=horizon, frequency=frequency)
    await deps.emit("tool", {"agent": AGENT, "tool": "forecaster", "status": "started"})
    try:
        history = await forecaster_service.load_history(deps.session, spec)
        oversized = queue_reason(forecaster_service.SIZE_RULES, history)
        if oversized:
            return _cannot(entry.name, frequency, f"{oversized}; the forecasts API runs it as a job")
        _, result = await forecaster_service.forecast_now(deps.session, deps.pool, history)
    except ValidationFailed as error:
        return _cannot(entry.name, frequency, error.message)
    return _report(entry.name, entry.aggregation, frequency, result)


def _cannot(metric: str, frequency: str, reason: str) -> AgentResult:
    return AgentResult(
        AGENT,
        "needs_input",
        [f"The forecaster could not forecast {metric} per {frequency}: {reason}"],
        data={"metric": metric, "frequency": frequency, "reason": reason},
    )


def _report(metric: str, aggregation: str, frequency: str, result: Any) -> AgentResult:
    cite = Citations(AGENT)
    history = f"{result.history_start.date().isoformat()} to {result.history_end.date().isoformat()}"
    n_text = cite.number(
        result.n_observations, metric=metric, period=history, method=f"{frequency}s of history used"
    )
    h_text = cite.number(
        result.horizon, metric=metric, period=None, method=f"forecast horizon in {frequency}s"
    )
    report = [
        f"Forecast of {metric} ({aggregation} per {frequency}) for the next {h_text} {frequency}s from "
        f"{n_text} {frequency}s of history ({history}); "
        f"model chosen by backtest: {result.model} ({result.spec})."
    ]
    forecast_rows = []
    for point in result.points:
        label = point.ts.date().isoformat() if point.ts is not None else f"step {point.step}"
        parts = [
            cite.number(
                point.mean,
                metric=metric,
                period=f"{frequency} starting {label}",
                method=f"forecast mean ({result.model}: {result.spec})",
            )
        ]
        for level in result.levels:
            low = cite.number(
                point.lower[level],
                metric=metric,
                period=f"{frequency} starting {label}",
                method=f"{level}% prediction interval lower bound ({result.model})",
            )
            high = cite.number(
                point.upper[level],
                metric=metric,
                period=f"{frequency} starting {label}",
                method=f"{level}% prediction interval upper bound ({result.model})",
            )
            parts.append(f"{level}% interval {low} to {high}")
        report.append(f"{frequency.capitalize()} starting {label}: {parts[0]} ({'; '.join(parts[1:])}).")
        forecast_rows.append(
            {"period_start": label, "mean": point.mean, "lower": point.lower, "upper": point.upper}
        )
    chosen = next((score for score in result.backtest if score.model == result.model), None)
    accuracy: dict[str, Any] = {"origins": result.backtest_origins}
    if chosen is not None and chosen.mase is not None:
        origins = cite.number(
            result.backtest_origins, metric=metric, period=history, method="backtest origins"
        )
        mase = cite.number(
            chosen.mase, metric=metric, period=history, method=f"backtest MASE of {result.model}"
        )
        line = f"Backtested accuracy over {origins} origins: MASE {mase}"
        if chosen.smape is not None:
            smape = cite.number(
                chosen.smape, metric=metric, period=history, method=f"backtest sMAPE (%) of {result.model}"
            )
            line += f", sMAPE {smape}%"
        accuracy |= {"mase": chosen.mase, "smape": chosen.smape}
        report.append(line + ".")
    if result.improvement_over_seasonal_naive is not None:
        gain = cite.number(
            result.improvement_over_seasonal_naive,
            metric=metric,
            period=history,
            method="improvement of backtest MASE over the naive baseline (%)",
        )
        report.append(f"That is {gain}% better than the naive baseline in the backtest (negative: worse).")
        accuracy["improvement_over_seasonal_naive"] = result.improvement_over_seasonal_naive
    plain_warnings = [w for w in result.warnings if not any(ch.isdigit() for ch in w)]
    report.extend(f"Warning: {w}" for w in plain_warnings)
    if len(plain_warnings) < len(result.warnings):
        report.append("The forecaster raised further warnings; they are listed in the tool data.")
    return AgentResult(
        AGENT,
        "ok",
        report,
        data={
            "metric": metric,
            "frequency": frequency,
            "model": result.model,
            "spec": result.spec,
            "levels": list(result.levels),
            "forecast": forecast_rows,
            "accuracy": accuracy,
            "warnings": list(result.warnings),
        },
        citations=cite.items,
        suggested_actions=[
            SuggestedAction(
                f"Plan a goal for {metric}",
                "POST",
                "/api/v1/goals/plan",
                {"objective": f"Set a goal for {metric}", "metric": metric},
            )
        ],
    )
