"""What-if: apply a small typed change language to template parameters, re-solve, and diff.

Changes address a value by a JSON-pointer-like path (see :class:`Change`). They are
applied to a copy of the parameters, which is then validated again, so a change can
never produce a model the template would not accept directly.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from backend.services.errors import Problem, ValidationFailed
from backend.services.optimizer.explain import conflict_sentences, num, pct
from backend.services.optimizer.runner import parse_params, run_template
from backend.services.optimizer.types import (
    Change,
    OptimizationResult,
    SolveOptions,
    ValueDiff,
    WhatIfResult,
)

_ITEM_KEYS = ("name", "sku", "id")
_DIFF_RTOL = 1e-6
_MAX_DIFFS_DESCRIBED = 5


class _ChangeError(Exception):
    pass


def _segments(path: str) -> list[str]:
    # JSON-pointer escaping: "~1" is "/", "~0" is "~".
    return [s.replace("~1", "/").replace("~0", "~") for s in path.split("/")[1:]]


def _matches(item: Any, where: Mapping[str, Any] | None) -> bool:
    return where is None or (isinstance(item, dict) and all(item.get(k) == v for k, v in where.items()))


def _list_keys(items: list[Any], segment: str, where: Mapping[str, Any] | None) -> list[int]:
    if segment == "*":
        return [i for i, item in enumerate(items) if _matches(item, where)]
    if segment.lstrip("-").isdigit():
        index = int(segment)
        if not -len(items) <= index < len(items):
            raise _ChangeError(f"index {index} is out of range (the list has {len(items)} items)")
        return [index % len(items)]
    found = [
        i
        for i, item in enumerate(items)
        if isinstance(item, dict) and any(item.get(k) == segment for k in _ITEM_KEYS)
    ]
    if not found:
        raise _ChangeError(f"no item named {segment!r}")
    return found


def _targets(doc: Any, segments: list[str], where: Mapping[str, Any] | None) -> list[tuple[Any, Any]]:
    """(container, key) pairs the path's last segment points at."""
    nodes = [doc]
    for depth, segment in enumerate(segments):
        last = depth == len(segments) - 1
        pairs: list[tuple[Any, Any]] = []
        for node in nodes:
            if isinstance(node, dict):
                if segment not in node and not last:
                    raise _ChangeError(f"no field {segment!r}")
                pairs.append((node, segment))
            elif isinstance(node, list):
                pairs.extend((node, i) for i in _list_keys(node, segment, where))
            else:
                raise _ChangeError(f"cannot descend into a {type(node).__name__} at {segment!r}")
        if last:
            return pairs
        nodes = [container[key] for container, key in pairs]
    raise _ChangeError("the path must name a field")


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _ChangeError(f"{what} must be a number, got {value!r}")
    return float(value)


def _tidy(value: float, original: Any) -> float | int:
    # Keep integer fields integer when the arithmetic lands on a whole number.
    return int(value) if isinstance(original, int) and float(value).is_integer() else value


def _apply_one(doc: Any, change: Change) -> None:
    segments = _segments(change.path)
    if change.where is not None and "*" not in segments:
        raise _ChangeError("'where' filters the items a '*' segment selects; the path has none")
    targets = _targets(doc, segments, change.where)
    if not targets:
        raise _ChangeError("the path matches nothing")
    if change.op == "remove":
        for container, key in sorted(
            targets, key=lambda t: t[1] if isinstance(t[1], int) else 0, reverse=True
        ):
            if isinstance(container, dict) and key not in container:
                raise _ChangeError(f"no field {key!r} to remove")
            del container[key]
        return
    for container, key in targets:
        current = container.get(key) if isinstance(container, dict) else container[key]
        if change.op == "set":
            container[key] = copy.deepcopy(change.value)
        elif change.op == "append":
            if current is None:
                container[key] = [copy.deepcopy(change.value)]
            elif isinstance(current, list):
                current.append(copy.deepcopy(change.value))
            else:
                raise _ChangeError("append needs a list")
        else:
            base = _number(current, "the current value")
            operand = _number(change.value, "the change value")
            result = base * operand if change.op == "scale" else base + operand
            container[key] = _tidy(result, current)


def apply_changes(params: Mapping[str, Any] | BaseModel, changes: Sequence[Change]) -> dict[str, Any]:
    """A copy of ``params`` with ``changes`` applied in order; a bad change raises ``ValidationFailed``."""
    doc = params.model_dump(mode="json") if isinstance(params, BaseModel) else copy.deepcopy(dict(params))
    for index, change in enumerate(changes):
        try:
            _apply_one(doc, change)
        except _ChangeError as exc:
            raise ValidationFailed(
                f"change {index} ({change.op} {change.path}): {exc}",
                context={"change_index": index, "path": change.path, "op": change.op},
            ) from None
    return doc


def _diffs(baseline: Mapping[str, float], scenario: Mapping[str, float]) -> list[ValueDiff]:
    diffs = []
    for name in sorted(set(baseline) | set(scenario)):
        before, after = baseline.get(name, 0.0), scenario.get(name, 0.0)
        if abs(after - before) > _DIFF_RTOL * max(1.0, abs(before)):
            diffs.append(ValueDiff(name=name, baseline=before, scenario=after, delta=after - before))
    diffs.sort(key=lambda d: (-abs(d.delta), d.name))
    return diffs


def _describe(change: Change) -> str:
    text = f"{change.op} {change.path}" + ("" if change.value is None else f" {change.value}")
    if change.where:
        text += " where " + ", ".join(f"{k}={v}" for k, v in change.where.items())
    return text


def compare_results(
    baseline: OptimizationResult, scenario: OptimizationResult, changes: Sequence[Change]
) -> WhatIfResult:
    """Side-by-side differences of two results of the same template."""
    objective_delta = objective_pct = None
    if baseline.objective is not None and scenario.objective is not None:
        objective_delta = scenario.objective - baseline.objective
        if abs(baseline.objective) > 1e-12:
            objective_pct = objective_delta / abs(baseline.objective)
    decision_diffs = _diffs(baseline.decisions, scenario.decisions)
    what = "; ".join(c.label or _describe(c) for c in changes)
    sentences = [f"Scenario: {what}."]
    label = scenario.objective_label
    if objective_delta is not None and baseline.objective is not None and scenario.objective is not None:
        direction = "rises" if objective_delta > 0 else "falls" if objective_delta < 0 else "stays"
        sentence = f"The {label} {direction} from {num(baseline.objective)} to {num(scenario.objective)}"
        if objective_delta != 0:
            sentence += f" ({'+' if objective_delta > 0 else ''}{num(objective_delta)}"
            sentence += f", {pct(objective_pct)})" if objective_pct is not None else ")"
        sentences.append(sentence + ".")
    if scenario.status != baseline.status:
        sentences.append(f"The status changes from {baseline.status} to {scenario.status}.")
        if scenario.status == "infeasible" and scenario.conflict is not None:
            sentences += conflict_sentences(scenario.conflict)
    if decision_diffs:
        top = ", ".join(
            f"{d.name} {num(d.baseline)} → {num(d.scenario)}" for d in decision_diffs[:_MAX_DIFFS_DESCRIBED]
        )
        sentences.append(f"{len(decision_diffs)} decisions change; the largest: {top}.")
    elif scenario.status == baseline.status:
        sentences.append("The plan itself does not change.")
    return WhatIfResult(
        changes=list(changes),
        baseline=baseline,
        scenario=scenario,
        objective_delta=objective_delta,
        objective_delta_pct=objective_pct,
        decision_diffs=decision_diffs,
        summary_diffs=_diffs(baseline.summary, scenario.summary),
        explanation=sentences,
    )


def run_what_if(
    template: str,
    params: Mapping[str, Any] | BaseModel,
    changes: Sequence[Change | Mapping[str, Any]],
    options: SolveOptions | None = None,
    baseline: OptimizationResult | None = None,
) -> WhatIfResult:
    """Re-solve ``template`` with ``changes`` applied to ``params`` and compare with the baseline.

    Pass ``baseline`` (e.g. a stored run's result) to skip re-solving the original.
    """
    try:
        typed = [c if isinstance(c, Change) else Change.model_validate(c) for c in changes]
    except ValidationError as exc:
        raise ValidationFailed(
            f"invalid change: {exc.errors(include_url=False)[0]['msg']}",
            problems=Problem.from_pydantic(
                exc.errors(include_url=False, include_input=False), prefix=["changes"]
            ),
        ) from None
    if not typed:
        raise ValidationFailed("a what-if needs at least one change", context={"changes": []})
    original = parse_params(template, params)
    changed = apply_changes(original, typed)
    try:
        changed_params = parse_params(template, changed)
    except ValidationFailed as exc:
        raise ValidationFailed(
            f"the changes make the parameters invalid: {exc.message}", problems=exc.problems
        ) from None
    base = baseline or run_template(template, original, options)
    scenario = run_template(template, changed_params, options)
    return compare_results(base, scenario, typed)
