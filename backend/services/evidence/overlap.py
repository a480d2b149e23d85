"""Overlap (common support) diagnostics for a binary treatment.

Adjustment only compares like with like where treated and untreated units with
similar confounders both exist. This module estimates propensity scores, summarises
their distribution per group, measures the effective sample size the weights leave,
and marks the units inside the trimming bounds of Crump, Hotz, Imbens & Mitnik
(2009), whose rule of thumb keeps propensities within [0.1, 0.9].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from backend.services.evidence.types import PropensitySummary, TargetUnits


def propensity_model() -> Pipeline:
    """The propensity model used everywhere in the engine (weighting and diagnostics).

    Standardising first lets the logistic fit converge on raw money columns; the mild
    default L2 penalty keeps scores finite when groups are (quasi-)separable.
    """
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))


@dataclass(frozen=True)
class OverlapCheck:
    """Propensity scores and the numbers derived from them (no estimate yet)."""

    scores: np.ndarray
    treated: PropensitySummary
    control: PropensitySummary
    ess_treated: float
    ess_control: float
    keep: np.ndarray
    bounds: tuple[float, float]
    share_outside: float
    adequate: bool
    detail: str


def _summary(scores: np.ndarray) -> PropensitySummary:
    q05, median, q95 = np.quantile(scores, [0.05, 0.5, 0.95])
    return PropensitySummary(
        n=len(scores),
        minimum=float(scores.min()),
        q05=float(q05),
        median=float(median),
        q95=float(q95),
        maximum=float(scores.max()),
    )


def effective_sample_size(weights: np.ndarray) -> float:
    """Kish's effective sample size, (Σw)² / Σw²: how many equally weighted units the weights are worth."""
    total = float(weights.sum())
    return total * total / float((weights * weights).sum()) if total > 0 else 0.0


def check_overlap(
    data: pd.DataFrame,
    *,
    treatment: str,
    confounders: Sequence[str],
    target_units: TargetUnits,
    trim_threshold: float,
    max_share_outside: float,
    min_ess_ratio: float,
) -> OverlapCheck:
    """Fit propensity scores and judge whether treated and control groups overlap.

    Overlap is *adequate* when at most ``max_share_outside`` of the units fall outside
    ``[trim_threshold, 1 - trim_threshold]`` and the weights of the target estimand keep
    at least ``min_ess_ratio`` of each group's size as effective sample size.
    """
    treated_mask = data[treatment].to_numpy() == 1
    if confounders:
        model = propensity_model().fit(data[list(confounders)].to_numpy(), treated_mask.astype(int))
        scores = model.predict_proba(data[list(confounders)].to_numpy())[:, 1]
    else:
        # Nothing to predict treatment from: every unit has the marginal treated share.
        scores = np.full(len(data), treated_mask.mean())
    clipped = np.clip(scores, 1e-6, 1 - 1e-6)
    if target_units == "att":
        weights_t = np.ones(int(treated_mask.sum()))
        weights_c = clipped[~treated_mask] / (1 - clipped[~treated_mask])
    else:
        weights_t = 1 / clipped[treated_mask]
        weights_c = 1 / (1 - clipped[~treated_mask])
    ess_t, ess_c = effective_sample_size(weights_t), effective_sample_size(weights_c)
    n_t, n_c = int(treated_mask.sum()), int((~treated_mask).sum())

    low, high = trim_threshold, 1 - trim_threshold
    keep = (scores >= low) & (scores <= high)
    share_outside = float(1 - keep.mean())
    ess_ratio = min(ess_t / n_t, ess_c / n_c)
    adequate = share_outside <= max_share_outside and ess_ratio >= min_ess_ratio
    detail = (
        f"{share_outside:.0%} of units have a propensity outside [{low:g}, {high:g}]; "
        f"treated propensities span {scores[treated_mask].min():.3f}-{scores[treated_mask].max():.3f}, "
        f"controls {scores[~treated_mask].min():.3f}-{scores[~treated_mask].max():.3f}; "
        f"the {target_units.upper()} weights leave an effective {ess_t:.0f} of {n_t} treated "
        f"and {ess_c:.0f} of {n_c} controls."
    )
    return OverlapCheck(
        scores=scores,
        treated=_summary(scores[treated_mask]),
        control=_summary(scores[~treated_mask]),
        ess_treated=ess_t,
        ess_control=ess_c,
        keep=keep,
        bounds=(low, high),
        share_outside=share_outside,
        adequate=adequate,
        detail=detail,
    )
