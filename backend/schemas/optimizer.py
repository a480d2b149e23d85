"""Request and response shapes of the optimizer API.

The engine's own result models (``OptimizationResult``, ``WhatIfResult``, ``Change``)
are served as they are: they are plain Pydantic data from the feature's ``types`` module,
the only optimizer module imported here.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from backend.schemas.common import ReadModel
from backend.services.optimizer.types import (
    DEFAULT_SOLVER,
    MAX_SYNC_TIME_LIMIT_SECONDS,
    Change,
    DerivedInputs,
    FromDataAsk,
    MetricInput,
    OptimizationResult,
    RunTimings,
    SolveOptions,
    SolverName,
    SolveStatus,
    TemplateInfo,
    WhatIfResult,
)


class RunOptions(BaseModel):
    """How to solve. HiGHS is the default: the benchmark measured it faster on every template."""

    model_config = ConfigDict(extra="forbid")

    solver: SolverName = DEFAULT_SOLVER
    time_limit_seconds: float = Field(
        30.0,
        gt=0,
        le=MAX_SYNC_TIME_LIMIT_SECONDS,
        description="stop the solver after this long and report the best plan found (status 'feasible' "
        "with its gap) or 'time_limit' when there is none",
    )
    relative_gap: float = Field(1e-6, ge=0, le=0.5, description="integer programs stop within this gap")
    explain_infeasibility: bool = Field(True, description="find a small set of conflicting constraint groups")

    def to_solve_options(self) -> SolveOptions:
        return SolveOptions(**self.model_dump())


class WhatIfOptions(BaseModel):
    """How to solve the scenario; the solver defaults to the baseline run's."""

    model_config = ConfigDict(extra="forbid")

    solver: SolverName | None = None
    time_limit_seconds: float = Field(30.0, gt=0, le=MAX_SYNC_TIME_LIMIT_SECONDS)
    relative_gap: float = Field(1e-6, ge=0, le=0.5)
    explain_infeasibility: bool = True

    def to_solve_options(self) -> SolveOptions:
        """The options with ``solver`` filled by the default; the service swaps in the baseline's."""
        return SolveOptions(**{**self.model_dump(), "solver": self.solver or DEFAULT_SOLVER})


class OptimizationRunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    template: str = Field(
        min_length=1, max_length=50, examples=["budget_allocation", "inventory", "staffing", "product_mix"]
    )
    params: dict[str, JsonValue] = Field(
        description="the template's inputs (see GET /api/v1/optimizer/templates); any number may be a "
        'metric reference such as {"metric": "orders", "agg": "avg", "last": "90 days"}'
    )
    options: RunOptions = Field(default_factory=RunOptions)
    run_async: bool = Field(
        default=False,
        alias="async",
        description="Solve in a background job (202 with the job id). Runs beyond the synchronous size "
        "limit always do.",
    )


class WhatIfCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    changes: list[Change] = Field(
        min_length=1,
        max_length=50,
        examples=[[{"path": "/total_budget", "op": "scale", "value": 1.1, "label": "budget +10%"}]],
    )
    options: WhatIfOptions = Field(default_factory=WhatIfOptions)


class SizeLimitRead(BaseModel):
    unit: str
    limit: int = Field(description="largest size solved synchronously; larger requests get 422")


class OptimizerTemplateRead(TemplateInfo):
    synchronous_limit: SizeLimitRead
    metric_reference_schema: dict[str, JsonValue] = Field(
        description="any number in the inputs may instead be an object of this shape, resolved from the "
        "tenant's metrics before the solve"
    )


class OptimizationRunSummary(ReadModel):
    id: uuid.UUID
    template: str
    status: SolveStatus
    solver: SolverName | None
    objective: float | None
    created_at: datetime


class OptimizationRunRead(OptimizationRunSummary):
    params: dict[str, JsonValue] = Field(
        description="the inputs as solved: metric references replaced by numbers, defaults filled in"
    )
    result: OptimizationResult
    metric_inputs: list[MetricInput] = Field(description="where each metric-referenced number came from")
    timings: RunTimings = Field(
        description="the engine's timings plus resolve_inputs_seconds, worker_seconds (the round trip to "
        "the solver process) and service_seconds"
    )


class WhatIfRead(WhatIfResult):
    baseline_run_id: uuid.UUID
    scenario_params: dict[str, JsonValue] = Field(
        description="the scenario's inputs; POST them to /api/v1/optimizer/runs to keep the scenario as a run"
    )


class FromDataCreate(FromDataAsk):
    """A run whose inputs come from the tenant's data; the knobs apply to the templates they name."""

    options: RunOptions = Field(default_factory=RunOptions)
    run_async: bool = Field(
        default=False, alias="async", description="Solve in a background job (202 with the job id)."
    )
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class FromDataRead(BaseModel):
    """The stored run and the inputs built from data, each number with its source."""

    run: OptimizationRunRead
    inputs: DerivedInputs
