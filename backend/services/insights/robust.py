"""Robust statistics the detectors share (pure): median/MAD scores, severities, wording of numbers.

Why median and MAD rather than mean and standard deviation: a metric's own past anomalies
(a holiday, an outage) would inflate a standard deviation and hide the next one; the median
absolute deviation ignores up to half the history being odd. ``1.4826 × MAD`` estimates the
standard deviation for normal noise, so a robust z of 3.5 means what a z of 3.5 usually does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

from backend.services.goals.wording import fmt as fmt
from backend.services.goals.wording import signed as signed
from backend.services.insights.types import Favourable, Severity

MAD_TO_SIGMA = 1.4826
MEAN_ABS_TO_SIGMA = 1.2533  # sqrt(pi / 2): mean absolute deviation to sigma, for normal noise
# A history that never varies: a change still scores, against 1% of its level.
FLAT_SCALE_FRACTION = 0.01


@dataclass(frozen=True)
class Score:
    """``observed`` against a history: the history's median, robust scale and the robust z."""

    observed: float
    median: float
    scale: float
    z: float
    size: int


def robust_scale(values: Sequence[float], median: float) -> float:
    """``1.4826 × MAD``; when more than half the values are equal (MAD 0), the mean absolute
    deviation; for a constant history, 1% of its level (so a change of a flat metric is news)."""
    deviations = np.abs(np.asarray(values, dtype=float) - median)
    scale = MAD_TO_SIGMA * float(np.median(deviations))
    if scale > 0:
        return scale
    scale = MEAN_ABS_TO_SIGMA * float(np.mean(deviations))
    if scale > 0:
        return scale
    return max(abs(median) * FLAT_SCALE_FRACTION, 1e-9)


def robust_score(observed: float, history: Sequence[float]) -> Score:
    """The robust z of ``observed`` against ``history`` (which must not be empty)."""
    median = float(np.median(np.asarray(history, dtype=float)))
    scale = robust_scale(history, median)
    return Score(observed, median, scale, (observed - median) / scale, len(history))


def is_good(change: float, favourable: Favourable | None) -> bool | None:
    """Whether a move of ``change`` is good news for the metric (None: its direction is not stated)."""
    if favourable is None or change == 0:
        return None
    return (change > 0) == (favourable == "up")


def severity(z: float, threshold: float, good: bool | None) -> Severity:
    """Good news is ``low``; otherwise ``high`` from twice the firing threshold, else ``medium``."""
    if good is True:
        return "low"
    return "high" if abs(z) >= 2 * threshold else "medium"


def percent_change(change: float, reference: float) -> float | None:
    return round(100 * change / abs(reference), 1) if reference else None


def day_label(day: date) -> str:
    return f"{day:%a %d %b %Y}"


def change_words(change: float, reference: float) -> str:
    """``down 18.2% (-9,170)`` or ``up 4,000`` when the reference is zero."""
    word = "up" if change > 0 else "down"
    percent = percent_change(change, reference)
    if percent is None:
        return f"{word} {fmt(abs(change))}"
    return f"{word} {abs(percent)}% ({signed(change)})"
