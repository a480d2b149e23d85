"""The template registry and the behaviour every template shares."""

from __future__ import annotations

import pytest

from backend.services.errors import ValidationFailed
from backend.services.optimizer import SolveOptions, list_templates, parse_params, run_template
from tests.services.optimizer.conftest import close


def test_registry_exposes_schema_and_example_for_each_template() -> None:
    infos = {info.name: info for info in list_templates()}
    assert set(infos) == {"budget_allocation", "inventory", "staffing", "product_mix"}
    for info in infos.values():
        assert info.input_schema["type"] == "object" and info.input_schema["properties"]
        assert info.title and info.description
        parse_params(info.name, info.example)  # the example is valid input


@pytest.mark.parametrize("template", ["budget_allocation", "inventory", "staffing", "product_mix"])
def test_both_solvers_agree_on_each_example(template: str) -> None:
    example = next(i.example for i in list_templates() if i.name == template)
    cbc = run_template(template, example, SolveOptions(solver="cbc"))
    highs = run_template(template, example, SolveOptions(solver="highs"))
    assert cbc.status == highs.status == "optimal"
    assert cbc.objective is not None and close(highs.objective, cbc.objective)
    assert cbc.explanation and cbc.explanation[0].startswith("This plan is optimal")
    assert cbc.timings.total_seconds >= cbc.timings.solve_seconds > 0
    assert cbc.size.variables > 0 and cbc.size.constraints > 0


def test_unknown_template_lists_the_known_ones() -> None:
    with pytest.raises(ValidationFailed) as caught:
        run_template("pricing", {})
    assert caught.value.context["available"] == ["budget_allocation", "inventory", "product_mix", "staffing"]


def test_unknown_fields_are_rejected_rather_than_ignored() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_params("product_mix", {"products": [{"name": "a", "price": 1, "make_cost": 0}], "budget": 5})
    assert caught.value.problems[0].path == "/budget"


def test_solve_options_are_validated() -> None:
    with pytest.raises(ValueError):
        SolveOptions(solver="gurobi")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        SolveOptions(time_limit_seconds=0)
