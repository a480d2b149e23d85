"""Optimizer: linear and integer programs for the decisions small businesses make.

The package holds the feature's service, repository, background tasks and metric-fed inputs
(``inputs``), and the pure compute modules re-exported here (no database, no HTTP), which
the service calls:

- :func:`list_templates` for the templates endpoint (input JSON schema + example each);
- :func:`parse_params` to validate parameters before storing a run;
- :func:`run_template` to solve a template and get an explained :class:`OptimizationResult`;
- :func:`run_what_if` / :func:`apply_changes` / :func:`compare_results` for scenarios;
- :func:`solve_mps` / :func:`parse_mps` + :func:`solve_mps_model` for raw models.

All of them raise :class:`backend.services.errors.ValidationFailed` on bad input.
"""

from backend.services.optimizer.mps import parse_mps, read_mps, solve_mps, solve_mps_model
from backend.services.optimizer.runner import get_template, list_templates, parse_params, run_template
from backend.services.optimizer.schemas import (
    Change,
    OptimizationResult,
    RawSolveResult,
    SolveOptions,
    TemplateInfo,
    WhatIfResult,
)
from backend.services.optimizer.whatif import apply_changes, compare_results, run_what_if

__all__ = [
    "Change",
    "OptimizationResult",
    "RawSolveResult",
    "SolveOptions",
    "TemplateInfo",
    "WhatIfResult",
    "apply_changes",
    "compare_results",
    "get_template",
    "list_templates",
    "parse_mps",
    "parse_params",
    "read_mps",
    "run_template",
    "run_what_if",
    "solve_mps",
    "solve_mps_model",
]
