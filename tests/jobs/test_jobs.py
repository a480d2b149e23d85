"""The job kit: status transitions, progress, results, clear errors, retries, tenant isolation."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.config import Settings
from backend.services.jobs import service as job_status
from backend.services.queue import JobAlreadyQueued, JobFailed, JobKind, JobRun, Task, enqueue
from backend.services.queue.app import UNEXPECTED_JOB_ERROR
from backend.services.queue.maintenance import remove_finished_jobs
from backend.utils.database import Database
from backend.utils.database_urls import DatabaseUrls
from tests.factories import create_tenant, expect_json, problem_context
from tests.jobs.support import fast_retry_settings, open_queue, queue_job, run_pending_jobs

QUEUE = "tests_jobs"


class Value(BaseModel):
    value: int


class Nothing(BaseModel):
    pass


class Attempts(BaseModel):
    succeed_on_attempt: int


class Thing(BaseModel):
    thing: str


OBSERVE = JobKind("tests.observe_progress", Value, queue=QUEUE)
REJECT = JobKind("tests.reject_input", Nothing, queue=QUEUE, max_attempts=3)
FLAKY = JobKind("tests.flaky", Attempts, queue=QUEUE, max_attempts=3)
LOCKED = JobKind("tests.locked", Thing, queue=QUEUE, lock=lambda payload: f"thing:{payload.thing}")


async def observe_progress(run: JobRun, payload: Value) -> dict[str, Any]:
    await run.progress(0.4, "halfway through the test input")
    # What a client polling the status would see mid-run.
    async with run.database.tenant_session(run.tenant_id) as session:
        seen = await job_status.get_job(session, run.job_id)
        observed = {"status": seen.status, "progress": seen.progress, "message": seen.message}
    return {"echo": payload.value, "tenant": str(run.tenant_id), "observed": observed}


async def reject_input(run: JobRun, payload: Nothing) -> None:
    raise JobFailed("the input has no rows", code="empty_input", context={"rows": 0})


async def flaky(run: JobRun, payload: Attempts) -> dict[str, Any]:
    if run.attempt < payload.succeed_on_attempt:
        raise ConnectionError(f"transient failure on attempt {run.attempt}")
    return {"succeeded_on_attempt": run.attempt}


async def locked(run: JobRun, payload: Thing) -> None:
    return None


TEST_TASKS: tuple[Task[Any], ...] = (
    Task(OBSERVE, observe_progress),
    Task(REJECT, reject_input),
    Task(FLAKY, flaky),
    Task(LOCKED, locked),
)


@pytest.fixture
def job_settings(settings: Settings) -> Settings:
    return fast_retry_settings(settings)


@pytest.fixture
def database(app: FastAPI) -> Database:
    db: Database = app.state.database
    return db


async def _run_jobs(job_settings: Settings, database_urls: DatabaseUrls) -> None:
    await run_pending_jobs(job_settings, database_urls, [QUEUE], TEST_TASKS)


async def _status(client: httpx.AsyncClient, headers: dict[str, str], job_id: uuid.UUID) -> dict[str, Any]:
    return expect_json(await client.get(f"/api/v1/jobs/{job_id}", headers=headers))


async def _run_one(
    client: httpx.AsyncClient,
    database: Database,
    job_settings: Settings,
    urls: DatabaseUrls,
    kind: JobKind[Any],
    payload: BaseModel,
) -> dict[str, Any]:
    """A job of ``kind`` queued for a new tenant and the worker run until nothing waits: its status."""
    tenant = await create_tenant(client)
    job_id = await queue_job(database, tenant.tenant_id, kind, payload)
    await _run_jobs(job_settings, urls)
    return await _status(client, tenant.headers, job_id)


def _runs(task: str, outcome: str) -> float:
    return REGISTRY.get_sample_value("job_runs_total", {"task": task, "outcome": outcome}) or 0.0


async def test_job_goes_from_queued_to_running_to_succeeded_with_progress_and_result(
    client: httpx.AsyncClient, database: Database, job_settings: Settings, database_urls: DatabaseUrls
) -> None:
    tenant = await create_tenant(client)
    job_id = await queue_job(database, tenant.tenant_id, OBSERVE, Value(value=42))
    queued = await _status(client, tenant.headers, job_id)
    assert (queued["status"], queued["progress"], queued["started_at"]) == ("queued", 0, None)
    successes_before = _runs("tests.observe_progress", "success")

    await _run_jobs(job_settings, database_urls)

    done = await _status(client, tenant.headers, job_id)
    assert done["status"] == "succeeded"
    assert done["progress"] == 100
    assert done["attempts"] == 1
    assert done["error"] is None
    assert done["started_at"] is not None and done["finished_at"] is not None
    assert done["result"] == {
        "echo": 42,
        "tenant": str(tenant.tenant_id),
        "observed": {"status": "running", "progress": 40, "message": "halfway through the test input"},
    }
    assert _runs("tests.observe_progress", "success") == successes_before + 1


async def test_job_failing_with_a_clear_error_is_failed_at_once_and_keeps_the_error(
    client: httpx.AsyncClient, database: Database, job_settings: Settings, database_urls: DatabaseUrls
) -> None:
    failed = await _run_one(client, database, job_settings, database_urls, REJECT, Nothing())
    assert failed["status"] == "failed"
    assert failed["attempts"] == 1  # a final error is not retried
    assert failed["error"] == {
        "code": "empty_input",
        "message": "the input has no rows",
        "details": {"problems": [{"code": "empty_input", "message": "the input has no rows", "rows": 0}]},
    }
    assert failed["finished_at"] is not None


async def test_transient_failure_is_retried_and_the_retry_succeeds(
    client: httpx.AsyncClient, database: Database, job_settings: Settings, database_urls: DatabaseUrls
) -> None:
    done = await _run_one(
        client, database, job_settings, database_urls, FLAKY, Attempts(succeed_on_attempt=2)
    )
    assert (done["status"], done["attempts"], done["result"]) == ("succeeded", 2, {"succeeded_on_attempt": 2})


async def test_job_failing_on_every_attempt_ends_failed_with_the_last_error(
    client: httpx.AsyncClient, database: Database, job_settings: Settings, database_urls: DatabaseUrls
) -> None:
    failed = await _run_one(
        client, database, job_settings, database_urls, FLAKY, Attempts(succeed_on_attempt=99)
    )
    assert (failed["status"], failed["attempts"]) == ("failed", 3)
    assert failed["error"]["code"] == "unexpected_error"
    # The internal cause stays in the log: the status says it failed, in the user's terms.
    assert failed["error"]["message"] == UNEXPECTED_JOB_ERROR
    assert "ConnectionError" not in str(failed["error"])


async def test_other_tenant_job_is_not_found_and_not_listed(
    client: httpx.AsyncClient, database: Database
) -> None:
    owner, other = await create_tenant(client), await create_tenant(client)
    job_id = await queue_job(database, owner.tenant_id, OBSERVE, Value(value=1))

    assert (await client.get(f"/api/v1/jobs/{job_id}", headers=other.headers)).status_code == 404
    listed = (await client.get("/api/v1/jobs", headers=other.headers)).json()
    assert listed["total"] == 0 and listed["items"] == []
    own = (await client.get("/api/v1/jobs", headers=owner.headers)).json()
    assert [item["id"] for item in own["items"]] == [str(job_id)]


async def test_jobs_list_filters_by_kind_and_status(client: httpx.AsyncClient, database: Database) -> None:
    tenant = await create_tenant(client)
    first = await queue_job(database, tenant.tenant_id, OBSERVE, Value(value=1))
    await queue_job(database, tenant.tenant_id, FLAKY, Attempts(succeed_on_attempt=1))

    by_kind = (
        await client.get("/api/v1/jobs", params={"kind": "tests.observe_progress"}, headers=tenant.headers)
    ).json()
    assert [item["id"] for item in by_kind["items"]] == [str(first)]
    none_running = (
        await client.get("/api/v1/jobs", params={"status": "running"}, headers=tenant.headers)
    ).json()
    assert none_running["total"] == 0
    bad = await client.get("/api/v1/jobs", params={"status": "paused"}, headers=tenant.headers)
    assert bad.status_code == 422


async def test_enqueue_in_a_rolled_back_transaction_leaves_no_job(
    client: httpx.AsyncClient, database: Database, owner_engine: AsyncEngine
) -> None:
    tenant = await create_tenant(client)
    async with database.session(tenant.tenant_id) as session:
        job_id = await enqueue(session, OBSERVE, Value(value=7))
        await session.rollback()

    assert (await client.get(f"/api/v1/jobs/{job_id}", headers=tenant.headers)).status_code == 404
    async with owner_engine.connect() as connection:
        queued = await connection.scalar(
            text("select count(*) from procrastinate.procrastinate_jobs where args->>'job_id' = :id"),
            {"id": str(job_id)},
        )
    assert queued == 0


async def test_second_job_with_the_same_queueing_lock_is_refused_while_the_first_waits(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant = await create_tenant(client)
    thing = uuid.uuid4().hex
    await queue_job(database, tenant.tenant_id, LOCKED, Thing(thing=thing))
    with pytest.raises(JobAlreadyQueued):
        await queue_job(database, tenant.tenant_id, LOCKED, Thing(thing=thing))
    # A different lock is independent.
    await queue_job(database, tenant.tenant_id, LOCKED, Thing(thing=thing + "-other"))


async def test_queue_rows_of_long_finished_jobs_are_removed_and_their_status_stays(
    client: httpx.AsyncClient,
    database: Database,
    job_settings: Settings,
    database_urls: DatabaseUrls,
    worker_engine: AsyncEngine,
) -> None:
    tenant = await create_tenant(client)
    old_job = await queue_job(database, tenant.tenant_id, OBSERVE, Value(value=1))
    recent_job = await queue_job(database, tenant.tenant_id, OBSERVE, Value(value=2))
    await _run_jobs(job_settings, database_urls)
    queue_ids = {}
    async with worker_engine.begin() as connection:
        await connection.execute(
            text("select set_config('app.tenant_id', :t, true)"), {"t": str(tenant.tenant_id)}
        )
        for job_id in (old_job, recent_job):
            queue_ids[job_id] = await connection.scalar(
                text("select queue_job_id from background_jobs where id = :id"), {"id": job_id}
            )
        # The first job ended eight days ago.
        await connection.execute(
            text(
                "update procrastinate.procrastinate_events set at = now() - interval '8 days' "
                "where job_id = :id"
            ),
            {"id": queue_ids[old_job]},
        )

    async with open_queue(job_settings, database_urls) as queue_app:
        await remove_finished_jobs(queue_app, older_than_hours=job_settings.jobs.keep_finished_hours)

    async with worker_engine.connect() as connection:
        left = set(
            (
                await connection.execute(
                    text("select id from procrastinate.procrastinate_jobs where id = any(:ids)"),
                    {"ids": list(queue_ids.values())},
                )
            ).scalars()
        )
    assert left == {queue_ids[recent_job]}
    assert (await _status(client, tenant.headers, old_job))["status"] == "succeeded"


async def test_a_payload_its_kind_does_not_describe_fails_at_once_without_retries(
    client: httpx.AsyncClient, database: Database, job_settings: Settings, database_urls: DatabaseUrls
) -> None:
    tenant = await create_tenant(client)
    # Queued under the kind's name with another payload model (as an older release might have).
    stale_kind = JobKind("tests.observe_progress", Thing, queue=QUEUE)
    job_id = await queue_job(database, tenant.tenant_id, stale_kind, Thing(thing="no value here"))

    await _run_jobs(job_settings, database_urls)

    failed = await _status(client, tenant.headers, job_id)
    assert (failed["status"], failed["attempts"]) == ("failed", 1)
    assert failed["error"]["code"] == "invalid_payload"
    assert problem_context(failed["error"]) == {"kind": "tests.observe_progress", "errors": 1}
    assert "no value here" not in str(failed["error"])
