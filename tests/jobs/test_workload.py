"""The workload kit: each feature's size rule decides run-now or queue (both sides of every
threshold), typed job payloads survive the round trip through the queue's JSON, and every kind a
worker runs is listed explicitly."""

from __future__ import annotations

import ast
import json
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import BaseModel

from backend.services.alerts.delivery import DeliveryPayload
from backend.services.auth.account_email import AccountEmailPayload
from backend.services.auth.emails import AccountEmailPurpose
from backend.services.benchmarks.service import BenchmarkImport
from backend.services.connectors.service import SYNC_JOB, SyncPayload
from backend.services.connectors.uploads import FileUploadJob
from backend.services.evidence import mmm_service, unit_service
from backend.services.evidence import service as evidence_service
from backend.services.evidence.compute import AnalysisSpec
from backend.services.evidence.units import UnitStudySpec
from backend.services.forecaster import service as forecaster_service
from backend.services.insights.digest import DigestPayload
from backend.services.insights.service import InsightRun
from backend.services.metrics.upload_service import UploadJob
from backend.services.optimizer import SolveOptions
from backend.services.optimizer.service import SYNC_LIMITS, MetricInput, MetricReference, PreparedRun
from backend.services.workload import REQUESTED, Requester, queue_reason
from backend.worker import TASKS

# --------------------------------------------------------------------------- size rules, both sides


def _history(horizon: int, periods: int) -> forecaster_service.History:
    spec = forecaster_service.ForecastSpec(metric="revenue", horizon=horizon, frequency="day")
    points = [(datetime(2020, 1, 1), 1.0)] * periods
    return forecaster_service.History(spec, "UTC", "day", "sum", points, datetime(2026, 1, 1))


def test_forecaster_rule_runs_a_horizon_of_60_now_and_queues_61() -> None:
    rules = forecaster_service.SIZE_RULES
    assert queue_reason(rules, _history(60, 730)) is None
    assert (
        queue_reason(rules, _history(61, 100))
        == "a horizon of 61 periods is beyond the synchronous limit of 60"
    )
    assert queue_reason(rules, _history(6, 731)) == (
        "731 periods of history are beyond the synchronous limit of 730"
    )
    # asked for (`async: true`): a job whatever the size; otherwise the size rule decides
    assert Requester(wants_job=True).queue_reason(queue_reason(rules, _history(6, 10))) == REQUESTED
    assert Requester(wants_job=False).queue_reason(queue_reason(rules, _history(6, 10))) is None


@pytest.mark.parametrize(
    ("template", "within", "beyond"),
    [
        ("budget_allocation", {"channels": [0] * 500}, {"channels": [0] * 501}),
        ("inventory", {"products": [0] * 2000}, {"products": [0] * 2001}),
        ("product_mix", {"products": [0] * 3000}, {"products": [0] * 3001}),
        (
            "staffing",
            {"employees": [0] * 100, "days": [0] * 7, "shifts": [0] * 3},
            {"employees": [0] * 101, "days": [0] * 7, "shifts": [0] * 3},
        ),
    ],
)
def test_optimizer_rule_solves_at_the_limit_now_and_queues_beyond_it(
    template: str, within: dict[str, Any], beyond: dict[str, Any]
) -> None:
    rule = SYNC_LIMITS[template]
    assert rule.reason(SimpleNamespace(**within)) is None
    reason = rule.reason(SimpleNamespace(**beyond))
    assert reason is not None and f"beyond the synchronous limit of {rule.limit}" in reason


def test_evidence_analysis_rule_counts_rows_simulations_columns_and_method() -> None:
    spec = AnalysisSpec(outcome="revenue", treatment="ads", refutation_simulations=20)
    # 11 calendar columns: rows x 13 x 20 <= 400,000 up to 1,538 rows.
    assert evidence_service.background_reason(spec, {"revenue": 1538}) is None
    beyond = evidence_service.background_reason(spec, {"revenue": 1539})
    assert beyond is not None and "exceeds the synchronous limit of 400,000" in beyond
    double_ml = spec.model_copy(update={"method": "double_ml"})
    assert evidence_service.background_reason(double_ml, {"revenue": 10}) == (
        "method double_ml re-fits a flexible model in every refuter draw"
    )


def test_marketing_mix_rule_runs_16_million_now_and_queues_more() -> None:
    spec = mmm_service.MmmSpec(outcome="revenue", channels=["search"], bootstrap_draws=0)
    size = mmm_service.MmmSize(buckets=1, calendar_columns=0)
    parameters = mmm_service.mmm_parameters(spec, size)
    per_bucket = parameters**2 * mmm_service.POINT_FIT_STARTS
    at_limit = mmm_service.MmmSize(buckets=16_000_000 // per_bucket, calendar_columns=0)
    over = mmm_service.MmmSize(buckets=16_000_000 // per_bucket + 1, calendar_columns=0)
    assert mmm_service.background_reason(spec, at_limit) is None
    reason = mmm_service.background_reason(spec, over)
    assert reason is not None and "exceeds the synchronous limit of 16,000,000" in reason


def test_unit_study_rule_counts_units_columns_and_simulations() -> None:
    spec = UnitStudySpec(unit_id="unit", treatment="t", outcome="y", refutation_simulations=10)
    # units x (0 adjustment columns + 2) x 10 <= 400,000 up to 20,000 units.
    within = SimpleNamespace(frame=[0] * 20_000, adjustment=[])
    beyond = SimpleNamespace(frame=[0] * 20_001, adjustment=[])
    assert unit_service.background_reason(spec, within) is None  # type: ignore[arg-type]
    reason = unit_service.background_reason(spec, beyond)  # type: ignore[arg-type]
    assert reason is not None and "exceeds the synchronous limit of 400,000" in reason


def test_a_connector_sync_is_always_a_job_and_one_source_holds_one_lock() -> None:
    source = uuid.uuid4()
    first, second = (
        SyncPayload(source_id=source, sync_id=uuid.uuid4()),
        SyncPayload(source_id=source, sync_id=uuid.uuid4()),
    )
    assert SYNC_JOB.lock is not None
    assert SYNC_JOB.lock(first) == SYNC_JOB.lock(second) == f"data_source:{source}"


# --------------------------------------------------------------------------- typed payloads

_WHEN = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)

PAYLOADS: dict[str, BaseModel] = {
    "forecaster.run": forecaster_service.ForecastSpec(
        metric="revenue",
        horizon=90,
        frequency="week",
        levels=(50, 90),
        dimensions={"store": "N1"},
        start=_WHEN,
    ),
    "forecaster.batch": forecaster_service.ForecastBatch(
        template=forecaster_service.ForecastSpec(metric="batch", horizon=3, end=_WHEN), metrics=["a", "b"]
    ),
    "optimizer.run": PreparedRun(
        template="product_mix",
        params={"products": [{"name": "mug", "margin": 2.5}]},
        inputs=[
            MetricInput(
                path="products.0.margin",
                reference=MetricReference(metric="margin", agg="latest"),
                points=3,
                value=2.5,
            )
        ],
        options=SolveOptions(solver="highs"),
        resolve_seconds=0.25,
    ),
    "evidence.analyze": AnalysisSpec(
        outcome="revenue",
        treatment="ads",
        confounders=["price"],
        lags=[1, 7],
        start=_WHEN,
        edges=[("a", "b")],
    ),
    "evidence.unit_study": unit_service.UnitStudyPayload(
        spec=UnitStudySpec(unit_id="unit", treatment="t", outcome="y", covariates=["age"]),
        rows=[{"unit": "u1", "t": 1, "y": 2.5, "age": 40}],
    ),
    "evidence.mmm_fit": mmm_service.MmmSpec(outcome="revenue", channels=["search", "social"], end=_WHEN),
    "connectors.sync": SyncPayload(source_id=uuid.uuid4(), sync_id=uuid.uuid4()),
    "benchmarks.import": BenchmarkImport(rows=[{"industry": "retail", "metric": "margin", "p50": 0.3}]),
    "insights.run": InsightRun(trigger="schedule", today=datetime(2026, 12, 7, tzinfo=UTC).date()),
    "connectors.upload": FileUploadJob(
        upload_id=uuid.uuid4(), source_id=uuid.uuid4(), sync_id=uuid.uuid4(), filename="sales.csv"
    ),
    "metrics.upload": UploadJob(
        upload_id=uuid.uuid4(), filename="sales.csv", layout="wide", dimensions=["store"], dry_run=True
    ),
    "auth.account_email": AccountEmailPayload(
        purpose=AccountEmailPurpose.PASSWORD_RESET, user_id=uuid.uuid4(), expires_at=_WHEN
    ),
    "alerts.deliver": DeliveryPayload(delivery_id=uuid.uuid4()),
    "insights.digest": DigestPayload(user_id=uuid.uuid4(), day=date(2026, 12, 7), frequency="weekly"),
}


def test_every_job_kind_a_worker_runs_has_a_sample_payload_here() -> None:
    names = [task.kind.name for task in TASKS]
    assert len(names) == len(set(names))
    assert sorted(names) == sorted(PAYLOADS)


@pytest.mark.parametrize("task", TASKS, ids=lambda task: task.kind.name)
def test_payload_survives_the_queue_json_round_trip(task: Any) -> None:
    payload = PAYLOADS[task.kind.name]
    assert isinstance(payload, task.kind.payload)
    stored = json.loads(json.dumps(task.kind.dump(payload)))  # what the queue and the status row hold
    assert task.kind.load(stored) == payload


def test_a_payload_the_kind_does_not_describe_is_refused_by_the_worker() -> None:
    with pytest.raises(ValueError, match="sync_id"):
        SYNC_JOB.load({"source_id": str(uuid.uuid4())})


def test_a_batch_queued_before_the_typed_payload_still_loads() -> None:
    flat = {"metric": "batch", "horizon": 3, "frequency": "month", "levels": [80, 95], "metrics": ["a", "b"]}
    batch = forecaster_service.BATCH_JOB.load(flat)
    assert [spec.metric for spec in batch.specs()] == ["a", "b"]
    assert batch.template.horizon == 3 and batch.template.frequency == "month"


# --------------------------------------------------------------------------- routes never decide


def test_no_route_queues_work_itself() -> None:
    """Routes call a service and map its result or ``Queued`` handle; only services reach the queue."""
    routes = Path(__file__).resolve().parents[2] / "backend" / "routes"
    deciding = {"enqueue", "run_or_queue", "queue_reason", "queue", "SizeRule"}
    offenders = []
    for module in sorted(routes.glob("*.py")):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.ImportFrom):
                offenders += [f"{module.name}: {a.name}" for a in node.names if a.name in deciding]
            # A route reading a size verdict (``history.oversized``) would be deciding itself.
            elif isinstance(node, ast.Attribute) and node.attr in (deciding - {"queue"}) | {"oversized"}:
                offenders.append(f"{module.name}: .{node.attr}")
    assert offenders == []
