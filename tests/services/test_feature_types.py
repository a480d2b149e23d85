"""Each of forecaster, evidence and optimizer has one leaf types module that its schemas import,
one optimizer solver default, and functions within ruff's complexity limit."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from backend.schemas.optimizer import RunOptions, WhatIfOptions
from backend.services.optimizer import SolveOptions

ROOT = Path(__file__).resolve().parents[2]
FEATURES = {
    "forecaster": ["forecaster"],
    "evidence": ["evidence", "mmm"],
    "optimizer": ["optimizer"],
}
# The metric-name pattern belongs to the metrics feature (not one of these three).
# Another feature's leaf types module is fine (the metric name pattern lives in metrics.types).
OTHER_FEATURES_ALLOWED = {"backend.services.metrics.types"}


def _backend_imports(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("backend."):
            modules.add(node.module)
        elif isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names if alias.name.startswith("backend."))
    return modules


@pytest.mark.parametrize("feature", sorted(FEATURES))
def test_a_features_schemas_import_only_its_types_module(feature: str) -> None:
    for schema in FEATURES[feature]:
        services = {
            module
            for module in _backend_imports(ROOT / "backend" / "schemas" / f"{schema}.py")
            if module.startswith("backend.services.")
        }
        assert services - OTHER_FEATURES_ALLOWED == {f"backend.services.{feature}.types"}, schema


@pytest.mark.parametrize("feature", sorted(FEATURES))
def test_a_features_types_module_is_a_leaf(feature: str) -> None:
    # The calendar and frequency modules are leaves themselves (the one period vocabulary).
    imported = _backend_imports(ROOT / "backend" / "services" / feature / "types.py")
    assert imported <= {"backend.utils.calendar", "backend.utils.frequency"}


def test_the_optimizer_has_one_types_module_and_one_solver_default() -> None:
    assert importlib.util.find_spec("backend.services.optimizer.schemas") is None
    # Every way of asking for a solve without naming a solver gets HiGHS.
    assert SolveOptions().solver == RunOptions().solver == "highs"
    assert WhatIfOptions().to_solve_options().solver == "highs"


def test_forecast_accuracy_is_not_called_metrics() -> None:
    assert importlib.util.find_spec("backend.services.forecaster.metrics") is None
    assert importlib.util.find_spec("backend.services.forecaster.accuracy") is not None


def test_these_features_stay_within_complexity_15() -> None:
    paths = [
        "backend/services/forecaster",
        "backend/services/evidence",
        "backend/services/optimizer",
        "backend/services/benchmarks/service.py",
        "backend/schemas",
    ]
    checked = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "--no-cache",
            "--select",
            "C901",
            "--config",
            "lint.mccabe.max-complexity = 15",
            *paths,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout
