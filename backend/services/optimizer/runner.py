"""Run a template end to end: validate, build, solve, explain. Pure: numbers in, result out."""

from __future__ import annotations

from collections.abc import Mapping
from time import perf_counter
from typing import Any

import pulp
from pydantic import BaseModel, ValidationError

from backend.services.errors import Problem, ValidationFailed
from backend.services.optimizer.explain import conflict_sentences, limit_sentences, status_sentences
from backend.services.optimizer.infeasibility import find_conflict
from backend.services.optimizer.model import BuiltModel
from backend.services.optimizer.solve import SolveOutcome, constraint_reports, solve_problem
from backend.services.optimizer.templates import TEMPLATES, TemplateSpec
from backend.services.optimizer.types import OptimizationResult, SolveOptions, TemplateInfo, Timings

_NOISE = 1e-9


def get_template(name: str) -> TemplateSpec:
    """The template called ``name``; an unknown name is a validation error listing the known ones."""
    spec = TEMPLATES.get(name)
    if spec is None:
        raise ValidationFailed(
            f"unknown optimizer template {name!r}",
            context={"template": name, "available": sorted(TEMPLATES)},
        )
    return spec


def list_templates() -> list[TemplateInfo]:
    """Every template with its input JSON schema and a realistic example, for the templates endpoint."""
    return [
        TemplateInfo(
            name=spec.name,
            title=spec.title,
            description=spec.description,
            objective_sense=spec.sense,
            input_schema=spec.params_model.model_json_schema(),
            example=spec.example(),
        )
        for spec in TEMPLATES.values()
    ]


def parse_params(template: str, params: Mapping[str, Any] | BaseModel) -> BaseModel:
    """Validate raw parameters against a template's model; errors become ``ValidationFailed`` (422)."""
    spec = get_template(template)
    if isinstance(params, spec.params_model):
        return params
    raw = params.model_dump() if isinstance(params, BaseModel) else dict(params)
    try:
        return spec.params_model.model_validate(raw)
    except ValidationError as exc:
        errors = Problem.at_pointers(exc.errors(include_url=False, include_input=False))
        first = errors[0]
        raise ValidationFailed(
            f"invalid parameters for {template}: {first.path}: {first.message}",
            problems=errors,
        ) from None


def _clean(value: float, integer: bool) -> float:
    if integer:
        return float(round(value))
    return 0.0 if abs(value) < _NOISE else value


def _decisions(built: BuiltModel, outcome: SolveOutcome) -> dict[str, float]:
    decisions: dict[str, float] = {}
    for name, var in built.decisions.items():
        integer = var.cat == pulp.LpInteger
        value = _clean(outcome.values.get(var.name, 0.0), integer)
        # Unused yes/no choices (shifts not assigned, products not ordered) would bury the plan.
        if integer and var.upBound == 1 and value == 0:
            continue
        decisions[name] = value
    return decisions


def run_template(
    template: str,
    params: Mapping[str, Any] | BaseModel,
    options: SolveOptions | None = None,
) -> OptimizationResult:
    """Validate ``params``, build and solve the template's model, and explain the result."""
    options = options or SolveOptions()
    started = perf_counter()
    spec = get_template(template)
    parsed = parse_params(template, params)
    validated = perf_counter()
    built = spec.build(parsed)
    build_done = perf_counter()
    outcome = solve_problem(built.problem, options)
    solve_done = perf_counter()

    conflict = None
    if outcome.status == "infeasible" and options.explain_infeasibility:
        conflict = find_conflict(built, options)
    reports = constraint_reports(built, outcome)
    interpretation = spec.interpret(parsed, built, outcome)
    explanation = status_sentences(
        outcome.status,
        built.objective_label,
        outcome.objective,
        outcome.gap,
        outcome.best_bound,
        options.time_limit_seconds,
    )
    explanation += interpretation.sentences
    explanation += limit_sentences(reports, built.sense, built.objective_label)
    if outcome.status == "infeasible" and options.explain_infeasibility:
        explanation += conflict_sentences(conflict)
    reduced_costs = {
        name: _clean(outcome.reduced_costs[var.name], False)
        for name, var in built.decisions.items()
        if var.name in outcome.reduced_costs
    }
    finished = perf_counter()
    return OptimizationResult(
        template=spec.name,
        solver=options.solver,
        status=outcome.status,
        objective_sense=built.sense,
        objective_label=built.objective_label,
        objective=outcome.objective,
        best_bound=outcome.best_bound,
        gap=outcome.gap,
        is_mip=outcome.is_mip,
        decisions=_decisions(built, outcome),
        summary=interpretation.summary,
        binding_constraints=reports,
        reduced_costs=reduced_costs,
        conflict=conflict,
        explanation=explanation,
        size=outcome.size,
        timings=Timings(
            validate_seconds=validated - started,
            build_seconds=build_done - validated,
            solve_seconds=outcome.solve_seconds,
            explain_seconds=finished - solve_done,
            total_seconds=finished - started,
        ),
    )
