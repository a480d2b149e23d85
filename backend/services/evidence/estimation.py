"""DoWhy plumbing of the evidence engine: settings, graph, identification, fitting, summaries.

Kept apart from :mod:`causal` (the orchestration and verdict) so each stays readable.
Everything here is pure: frames in, DoWhy objects or :class:`EffectEstimate` out.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
from dowhy import CausalModel
from dowhy.causal_estimator import CausalEstimate
from dowhy.causal_identifier import IdentifiedEstimand
from scipy import stats

from backend.services.errors import Unavailable, ValidationFailed
from backend.services.evidence.overlap import propensity_model
from backend.services.evidence.refute import RefutationSettings
from backend.services.evidence.table import is_binary
from backend.services.evidence.types import EffectEstimate, EstimationMethod, TargetUnits

Edge = tuple[str, str]


@dataclass(frozen=True)
class CausalSettings:
    """Knobs of one analysis. Defaults suit a request; tests lower the simulation counts."""

    confidence_level: float = 0.95
    refutation: RefutationSettings = field(default_factory=RefutationSettings)
    run_refutations: bool = True
    # Bootstrap draws for the propensity-weighting interval (DoWhy has no analytic one).
    bootstrap_simulations: int = 200
    # Estimate with the other applicable methods too, as a cross-check (no refuters on those).
    compare_methods: bool = True
    dml_folds: int = 3
    dml_trees: int = 100
    # Caps on propensity scores in weighting so one unit cannot dominate; overlap reports how many sit there.
    propensity_clip: tuple[float, float] = (0.01, 0.99)
    # Crump et al. (2009) rule of thumb for trimming to common support.
    trim_threshold: float = 0.1
    max_share_outside: float = 0.1
    min_ess_ratio: float = 0.1
    random_seed: int = 0
    # Newey–West lags for the linear estimate's interval (time series); None: i.i.d. OLS intervals.
    hac_lags: int | None = None
    # Metric analyses: estimators disagreeing beyond their intervals weaken the verdict, and an
    # adjustment set that does not predict the treatment counts as none. Off by default so
    # cross-section benchmarks (LaLonde) keep their verdicts.
    strict_verdict: bool = False


@contextmanager
def quiet(seed: int) -> Iterator[None]:
    """Silence DoWhy/scikit-learn/EconML chatter and make their global-RNG draws reproducible.

    DoWhy's bootstrap and some refuters draw from NumPy's global generator, so it is
    seeded here and restored afterwards rather than touched for the whole process.
    """
    dowhy_logger = logging.getLogger("dowhy")
    previous_level = dowhy_logger.level
    rng_state = np.random.get_state()
    dowhy_logger.setLevel(logging.ERROR)
    np.random.seed(seed)
    try:
        with warnings.catch_warnings():
            for category in (FutureWarning, UserWarning, DeprecationWarning, RuntimeWarning):
                warnings.simplefilter("ignore", category)
            yield
    finally:
        dowhy_logger.setLevel(previous_level)
        np.random.set_state(rng_state)


def build_graph(edges: Sequence[Edge], treatment: str, outcome: str) -> nx.DiGraph:
    graph = nx.DiGraph()
    graph.add_edges_from((str(a), str(b)) for a, b in edges)
    if not nx.is_directed_acyclic_graph(graph):
        raise ValidationFailed("The causal graph has a cycle.", context={"cycle": nx.find_cycle(graph)})
    missing = [n for n in (treatment, outcome) if n not in graph]
    if missing:
        raise ValidationFailed(
            "The causal graph must contain the treatment and the outcome.", context={"missing": missing}
        )
    if not nx.has_path(graph, treatment, outcome):
        raise ValidationFailed(
            "The causal graph has no directed path from treatment to outcome.",
            context={"treatment": treatment, "outcome": outcome},
        )
    return graph


def method_spec(
    method: EstimationMethod, binary: bool, settings: CausalSettings
) -> tuple[str, dict[str, Any] | None, bool]:
    """DoWhy method name, its parameters, and whether to ask DoWhy for intervals at fit time."""
    if method == "linear_regression":
        return "backdoor.linear_regression", None, False
    if method == "propensity_weighting":
        low, high = settings.propensity_clip
        init = {
            "propensity_score_model": propensity_model(),
            "min_ps_score": low,
            "max_ps_score": high,
            # Self-normalised (Hájek) weights: far less variable than raw inverse weights.
            "weighting_scheme": "ips_normalized_weight",
            "num_simulations": settings.bootstrap_simulations,
        }
        return "backdoor.propensity_score_weighting", {"init_params": init}, False
    from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor

    trees = {"n_estimators": settings.dml_trees, "max_depth": 3, "random_state": settings.random_seed}
    init = {
        "model_y": GradientBoostingRegressor(**trees),
        "model_t": GradientBoostingClassifier(**trees) if binary else GradientBoostingRegressor(**trees),
        "discrete_treatment": binary,
        "cv": settings.dml_folds,
        "random_state": settings.random_seed,
    }
    # EconML's final-stage inference is analytic and cheap, so it can run inside every refit.
    return "backdoor.econml.dml.LinearDML", {"init_params": init, "fit_params": {}}, True


def fit_estimate(
    model: CausalModel,
    estimand: IdentifiedEstimand,
    method: EstimationMethod,
    binary: bool,
    target_units: TargetUnits,
    settings: CausalSettings,
) -> CausalEstimate:
    if method != "linear_regression" and not estimand.get_backdoor_variables():
        raise ValidationFailed(
            "This method adjusts for confounders and there are none; use linear_regression, "
            "which then reduces to the plain difference or slope.",
            context={"method": method},
        )
    name, params, intervals_at_fit = method_spec(method, binary, settings)
    columns_before = list(model._data.columns)
    try:
        estimate = model.estimate_effect(
            estimand,
            method_name=name,
            method_params=params,
            target_units=target_units,
            confidence_intervals=intervals_at_fit,
            control_value=0,
            treatment_value=1,
        )
    except ImportError as exc:  # EconML is an optional extra of DoWhy.
        raise Unavailable(
            "The double-ML estimator needs the 'econml' package.", context={"method": method}
        ) from exc
    # DoWhy's propensity estimators write their scores and weights into the model's frame. Left
    # there, refuters and the bootstrap would reuse the scores of the *real* treatment (a placebo
    # would be weighted by them), so strip them in place from the frame the estimate shares.
    added = [c for c in model._data.columns if c not in columns_before]
    model._data.drop(columns=added, inplace=True)
    return estimate


def summarise(
    estimate: CausalEstimate,
    method: EstimationMethod,
    target_units: TargetUnits,
    n: int,
    settings: CausalSettings,
) -> EffectEstimate:
    level = settings.confidence_level
    z = float(stats.norm.ppf(0.5 + level / 2))
    value = float(np.ravel(estimate.value)[0])
    if method == "linear_regression" and settings.hac_lags is not None:
        # DoWhy's design matrix is [intercept, treatment, ...]: the treatment is column 1.
        robust = hac_results(estimate, settings.hac_lags)
        low, high = np.asarray(robust.conf_int(alpha=1 - level))[1]
        standard_error = float(robust.bse[1])
        p_value = float(robust.pvalues[1])
        interval_method = f"HAC (Newey–West, {settings.hac_lags} lags)"
    elif method == "linear_regression":
        low, high = np.ravel(estimate.get_confidence_intervals(confidence_level=level))[:2]
        standard_error = float(np.ravel(estimate.get_standard_error())[0])
        p_value = float(np.ravel(estimate.test_stat_significance()["p_value"])[0])
        interval_method = "analytic (OLS)"
    else:
        if method == "propensity_weighting":
            low, high = np.ravel(
                estimate.get_confidence_intervals(confidence_level=level, method="bootstrap")
            )[:2]
            interval_method = f"bootstrap ({settings.bootstrap_simulations} resamples)"
        else:
            low, high = np.ravel(estimate.estimator.effect_intervals)[:2]
            interval_method = "double-ML final-stage inference"
        # Normal approximation from the interval: the p-value these estimators do not report.
        standard_error = float(high - low) / (2 * z)
        p_value = float(2 * stats.norm.sf(abs(value) / standard_error)) if standard_error > 0 else 0.0
    return EffectEstimate(
        method=method,
        target_units=target_units,
        value=value,
        ci_low=float(min(low, high)),
        ci_high=float(max(low, high)),
        confidence_level=level,
        p_value=p_value,
        standard_error=standard_error,
        n=n,
        interval_method=interval_method,
    )


def hac_results(estimate: CausalEstimate, hac_lags: int) -> Any:
    """The OLS fit behind a DoWhy linear estimate, with Newey–West covariance."""
    return estimate.estimator.model.get_robustcov_results(cov_type="HAC", maxlags=hac_lags)


def build_model(
    data: pd.DataFrame, treatment: str, outcome: str, confounders: Sequence[str], graph: nx.DiGraph | None
) -> tuple[CausalModel, IdentifiedEstimand, list[str]]:
    if graph is None:
        model = CausalModel(
            data=data, treatment=treatment, outcome=outcome, common_causes=list(confounders) or None
        )
        # With the default graph every confounder is a backdoor: take them all, skip the costly search.
        estimand = model.identify_effect(method_name="maximal-adjustment", proceed_when_unidentifiable=True)
    else:
        model = CausalModel(data=data, treatment=treatment, outcome=outcome, graph=graph)
        estimand = model.identify_effect(proceed_when_unidentifiable=False)
        if estimand.estimands.get("backdoor") is None:
            raise ValidationFailed(
                "The causal graph does not identify the effect by backdoor adjustment.",
                context={"treatment": treatment, "outcome": outcome},
            )
    backdoor = {str(c) for c in (estimand.get_backdoor_variables() or [])}
    # DoWhy returns a set; keep the caller's column order so results are reproducible.
    adjustment = [c for c in confounders if c in backdoor]
    return model, estimand, adjustment


def graph_columns(frame: pd.DataFrame, graph: nx.DiGraph, treatment: str, outcome: str) -> list[str]:
    # Graph nodes without a column are unobserved; identification decides if that matters.
    return [n for n in graph.nodes if n in frame.columns and n not in (treatment, outcome)]


def check_method(
    data: pd.DataFrame, treatment: str, method: EstimationMethod, target_units: TargetUnits
) -> bool:
    binary = is_binary(data[treatment])
    if not binary and method == "propensity_weighting":
        raise ValidationFailed(
            "Propensity-score weighting needs a binary (0/1) treatment.",
            context={"treatment": treatment, "method": method},
        )
    if not binary and target_units == "att":
        raise ValidationFailed(
            "The effect on the treated is defined for a binary (0/1) treatment only.",
            context={"treatment": treatment},
        )
    if binary:
        counts = data[treatment].value_counts()
        if counts.min() < 2:
            raise ValidationFailed(
                "Both treated and untreated observations are needed.",
                context={"treated": int(counts.get(1.0, 0)), "untreated": int(counts.get(0.0, 0))},
            )
    return binary
