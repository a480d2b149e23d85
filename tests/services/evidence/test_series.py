"""The time-series design on two years of daily shop metrics with a known truth.

Nulls that fooled the levels regression (a shared trend, independent random walks) must not be
`supported`; a seasonal lever, correctly adjusted for its confounder, must be recovered and
`supported`; a lagged effect must add up to its long-run total. Seeds are fixed and every
assertion leaves a statistical margin (intervals, not exact floats).
"""

from __future__ import annotations

import pandas as pd
import pytest

from backend.services.errors import ValidationFailed
from backend.services.evidence import CausalSettings, RefutationSettings, predict_what_if
from backend.services.evidence.design import calendar_frame
from backend.services.evidence.series_analysis import SeriesQuestion, analyze_series
from backend.services.evidence.types import CausalResult, DesignKind
from backend.utils.calendar import country_of_zone
from tests.services.evidence.synthetic import analyze_lever, shop_series

FAST = CausalSettings(refutation=RefutationSettings(num_simulations=8), compare_methods=False)


def _run(
    frame: pd.DataFrame,
    *,
    confounders: list[str],
    lags: list[int] | None = None,
    design: DesignKind = "time_series",
    negative_controls: list[str] | None = None,
    settings: CausalSettings = FAST,
) -> CausalResult:
    return analyze_lever(
        frame,
        settings,
        confounders=confounders,
        lags=lags or (),
        design=design,
        negative_controls=negative_controls or (),
    )


@pytest.mark.parametrize("kind", ["shared_trend", "random_walk"])
def test_a_null_sharing_a_trend_or_a_drift_is_not_supported(kind: str) -> None:
    frame = shop_series(kind=kind, seed=31)
    result = _run(frame, confounders=["price"])

    assert result.verdict != "supported", result.reasons
    assert result.estimate.ci_low <= 0.0 <= result.estimate.ci_high
    assert result.design is not None and result.design.kind == "time_series"
    assert result.estimate.interval_method.startswith("HAC")
    if kind == "random_walk":
        assert result.design.transformation == "first_difference"


def test_a_shared_unobserved_random_walk_fails_the_placebo_in_time() -> None:
    """Demand drives both lever and revenue: a future lever 'predicts' today's revenue."""
    frame = shop_series(kind="shared_random_walk", seed=51)
    result = _run(frame, confounders=["price"])
    placebo = next(r for r in result.refutations if r.name == "placebo_in_time")
    assert placebo.passed is False
    assert result.verdict == "not_supported"


def test_random_walks_in_the_levels_design_are_never_supported() -> None:
    """The former analysis (levels) is still available, but never signs off on trending series."""
    frame = shop_series(kind="random_walk", seed=32)
    levels = _run(frame, confounders=["price"], design="levels")
    assert levels.verdict != "supported"
    assert levels.design is not None and levels.design.kind == "levels"
    assert any("levels" in reason for reason in levels.reasons)


def test_a_correctly_adjusted_seasonal_effect_is_recovered_and_supported() -> None:
    frame = shop_series(kind="seasonal", seed=33)
    result = _run(frame, confounders=["promo"], negative_controls=["visits"])

    assert result.estimate.ci_low <= 2.0 <= result.estimate.ci_high
    assert result.verdict == "supported", result.reasons
    assert result.design is not None
    assert {"calendar_holiday", "calendar_year_sin1", "calendar_dow5"} <= set(result.design.calendar_controls)
    # The hidden-confounder benchmark is the real confounder, not the (strong) calendar terms.
    assert result.sensitivity is not None and result.sensitivity.benchmark == "promo"
    names = {r.name: r.passed for r in result.refutations}
    assert names["placebo_in_time"] and names["rolling_windows"] and names["negative_control"]


def test_season_and_holidays_left_out_bias_the_levels_regression() -> None:
    frame = shop_series(kind="seasonal", seed=34)
    levels = _run(frame, confounders=["promo"], design="levels")
    designed = _run(frame, confounders=["promo"])
    assert not levels.estimate.ci_low <= 2.0 <= levels.estimate.ci_high
    assert levels.verdict != "supported"
    assert designed.estimate.ci_low <= 2.0 <= designed.estimate.ci_high


def test_an_unrelated_confounder_does_not_bypass_the_raw_association_guard() -> None:
    frame = shop_series(kind="seasonal", seed=35)
    result = _run(frame, confounders=["price"])
    assert result.verdict == "not_supported"
    assert any("do not predict lever" in reason for reason in result.reasons)


def test_the_lever_affecting_a_negative_control_blocks_the_verdict() -> None:
    frame = shop_series(kind="seasonal", seed=36)
    frame = frame.assign(visits=frame["visits"] + 3 * frame["lever"])
    result = _run(frame, confounders=["promo"], negative_controls=["visits"])
    control = next(r for r in result.refutations if r.name == "negative_control")
    assert control.passed is False
    assert result.verdict == "not_supported"


def test_lagged_effects_add_up_and_the_sustained_what_if_uses_the_total() -> None:
    """Same-day 0.5 + next-day 1.5: a sustained +100/day moves revenue by +200/day."""
    frame = shop_series(kind="seasonal", seed=37, effect=0.5, lag_effect=1.5)
    result = _run(frame, confounders=["promo"], lags=[1])
    effects = result.lag_effects
    assert effects is not None
    assert effects.immediate.ci_low <= 0.5 <= effects.immediate.ci_high
    assert effects.cumulative.ci_low <= 2.0 <= effects.cumulative.ci_high
    assert effects.cumulative.ci_high - effects.cumulative.ci_low > 0
    assert [c.lag for c in effects.by_lag] == [0, 1]
    # The main estimate (and so the verdict) is the long-run effect, not the same-day one.
    assert result.estimate.value == pytest.approx(effects.cumulative.value, rel=1e-6)
    assert result.verdict == "supported", result.reasons

    sustained = predict_what_if(result, treatment_change=100)
    assert sustained.effect_used == "cumulative"
    assert sustained.ci_low <= 200 <= sustained.ci_high
    once = predict_what_if(result, treatment_change=100, sustained=False)
    assert once.effect_used == "immediate"
    assert once.ci_low <= 50 <= once.ci_high


def test_too_short_a_history_is_a_validation_error() -> None:
    frame = shop_series(kind="seasonal", seed=38).head(15)
    with pytest.raises(ValidationFailed, match="Too few aligned observations"):
        _run(frame, confounders=["promo"])


def test_an_unknown_holiday_country_is_a_validation_error() -> None:
    frame = shop_series(kind="seasonal", seed=39)
    question = SeriesQuestion(
        treatment="lever",
        outcome="revenue",
        confounders=["promo"],
        lags=[],
        edges=[],
        method="linear_regression",
        target_units="ate",
        randomized=False,
        frequency="D",
        design="time_series",
        holiday_country="XX",
    )
    with pytest.raises(ValidationFailed, match="holiday"):
        analyze_series(frame, question, FAST)


def test_weekly_buckets_count_their_holidays_and_get_fewer_season_terms() -> None:
    index = pd.date_range("2024-01-01", periods=104, freq="W-MON")
    calendar = calendar_frame(index, "W-MON", "US")
    assert not any(c.startswith("calendar_dow") for c in calendar.columns)
    assert "calendar_year_cos2" in calendar.columns and "calendar_year_sin3" not in calendar.columns
    assert calendar.loc["2024-12-23", "calendar_holidays"] == 1  # Christmas Day
    assert calendar.loc["2024-12-30", "calendar_holidays"] == 1  # New Year's Day 2025


def test_the_holiday_country_defaults_from_the_time_zone() -> None:
    assert country_of_zone("Europe/Berlin") == "DE"
    assert country_of_zone("America/New_York") == "US"
    assert country_of_zone("UTC") is None
