"""A job that fans out: one child job per part, progress per child, done with the last child."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from backend.config import Settings
from backend.services.jobs import service as job_status
from backend.services.jobs.service import ChildJob, ChildRule
from backend.services.queue import FannedOut, JobFailed, JobKind, JobRun, JobRuntime, Task
from backend.services.workload import fan_out
from backend.utils.database import Database
from backend.utils.database_urls import DatabaseUrls
from tests.factories import create_tenant, expect_json
from tests.jobs.support import fast_retry_settings, queue_job, run_pending_jobs, shared_compute

QUEUE = "tests_fan_out"


class Parts(BaseModel):
    parts: list[str]


class Part(BaseModel):
    part: str
    parent: uuid.UUID


def _summary(children: Sequence[ChildJob]) -> dict[str, Any]:
    return {
        "done": sorted(
            str((child.result or {}).get("part")) for child in children if child.status == "succeeded"
        ),
        "failed": sorted(
            PART.load(child.payload).part + ":" + str((child.error or {}).get("code"))
            for child in children
            if child.status == "failed"
        ),
    }


PARENT = JobKind("tests.fan_out", Parts, queue=QUEUE, max_attempts=1, children=ChildRule("parts", _summary))
PART = JobKind("tests.part", Part, queue=QUEUE, max_attempts=1)


async def split(run: JobRun, payload: Parts) -> FannedOut:
    return await fan_out(run, PART, [Part(part=part, parent=run.job_id) for part in payload.parts])


async def do_part(run: JobRun, payload: Part) -> dict[str, Any]:
    # What a client polling the parent sees while this child runs (children run one by one here).
    async with run.database.tenant_session(run.tenant_id) as session:
        parent = await job_status.get_job(session, payload.parent)
        seen = {"status": parent.status, "progress": parent.progress, "message": parent.message}
    if payload.part == "bad":
        raise JobFailed("this part cannot be done", code="bad_part")
    return {"part": payload.part, "parent_seen": seen}


TASKS: tuple[Task[Any], ...] = (Task(PARENT, split), Task(PART, do_part))


@pytest.fixture
def job_settings(settings: Settings) -> Settings:
    return fast_retry_settings(settings)


async def _job(client: httpx.AsyncClient, headers: dict[str, str], job_id: uuid.UUID) -> dict[str, Any]:
    return expect_json(await client.get(f"/api/v1/jobs/{job_id}", headers=headers))


async def test_a_job_fans_out_one_child_per_part_and_completes_with_the_last(
    client: httpx.AsyncClient, app: FastAPI, job_settings: Settings, database_urls: DatabaseUrls
) -> None:
    tenant = await create_tenant(client)
    database: Database = app.state.database
    parts = ["a", "b", "bad", "c"]
    parent_id = await queue_job(database, tenant.tenant_id, PARENT, Parts(parts=parts))

    await run_pending_jobs(job_settings, database_urls, [QUEUE], TASKS)

    parent = await _job(client, tenant.headers, parent_id)
    assert parent["status"] == "succeeded"
    assert parent["progress"] == 100 and parent["message"] == "4 of 4 parts done"
    assert parent["result"] == {"done": ["a", "b", "c"], "failed": ["bad:bad_part"]}

    listed = await client.get(
        "/api/v1/jobs", headers=tenant.headers, params={"parent_id": str(parent_id), "limit": 50}
    )
    assert listed.status_code == 200, listed.text
    children = listed.json()["items"]
    assert listed.json()["total"] == 4 and {child["kind"] for child in children} == {"tests.part"}
    assert all(child["parent_id"] == str(parent_id) for child in children)
    statuses = sorted(child["status"] for child in children)
    assert statuses == ["failed", "succeeded", "succeeded", "succeeded"]
    # Children ran one at a time: each saw the parent running, with the earlier ones counted.
    seen = sorted(
        (child["result"]["parent_seen"] for child in children if child["result"]), key=lambda s: s["progress"]
    )
    assert all(s["status"] == "running" for s in seen)
    progress = [s["progress"] for s in seen]
    assert len(set(progress)) == 3 and set(progress) <= {0, 25, 50, 75}


async def test_a_parent_settles_per_child_and_a_failed_child_fails_alone(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings
) -> None:
    tenant = await create_tenant(client)
    database: Database = app.state.database
    parent_id = await queue_job(database, tenant.tenant_id, PARENT, Parts(parts=["x", "y", "z"]))
    runtime = JobRuntime(settings, database, shared_compute())

    async def ignore(fraction: float, message: str) -> None:
        return None

    run = JobRun(PARENT.name, tenant.tenant_id, parent_id, 1, 1, runtime, ignore)
    payloads = [Part(part=part, parent=parent_id) for part in ("x", "y", "z")]
    assert await fan_out(run, PART, payloads) == FannedOut(3)
    # An attempt that runs again after its children were queued queues nothing new.
    assert await fan_out(run, PART, payloads) == FannedOut(3)
    rules = {PARENT.name: PARENT.children} if PARENT.children else {}

    async with database.tenant_session(tenant.tenant_id) as session:
        await job_status.mark_running(session, parent_id, attempt=1)
        children = await job_status.children_of(session, parent_id)
        ids = {PART.load(child.payload).part: child.id for child in children}
    assert len(children) == 3 and all(child.queue_job_id is not None for child in children)

    seen: list[tuple[str, int, str | None]] = []
    for part in ("y", "x", "z"):
        async with database.tenant_session(tenant.tenant_id) as session:
            if part == "x":
                error = {"code": "bad_part", "message": "no", "details": {}}
                await job_status.mark_failed(session, ids[part], error, will_retry=False, attempt=1)
            else:
                await job_status.mark_succeeded(session, ids[part], {"part": part})
            await job_status.settle_parent_of(session, ids[part], rules)
        async with database.tenant_session(tenant.tenant_id) as session:
            parent = await job_status.get_job(session, parent_id)
            seen.append((parent.status, parent.progress, parent.message))

    assert seen == [
        ("running", 33, "1 of 3 parts done"),
        ("running", 67, "2 of 3 parts done"),
        ("succeeded", 100, "3 of 3 parts done"),
    ]
    async with database.tenant_session(tenant.tenant_id) as session:
        parent = await job_status.get_job(session, parent_id)
        assert parent.result == {"done": ["y", "z"], "failed": ["x:bad_part"]}


async def test_children_finishing_at_once_complete_the_parent_exactly_once(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings
) -> None:
    tenant = await create_tenant(client)
    database: Database = app.state.database
    parts = [f"p{index}" for index in range(6)]
    parent_id = await queue_job(database, tenant.tenant_id, PARENT, Parts(parts=parts))

    async def ignore(fraction: float, message: str) -> None:
        return None

    run = JobRun(
        PARENT.name,
        tenant.tenant_id,
        parent_id,
        1,
        1,
        JobRuntime(settings, database, shared_compute()),
        ignore,
    )
    await fan_out(run, PART, [Part(part=part, parent=parent_id) for part in parts])
    rules = {PARENT.name: PARENT.children} if PARENT.children else {}
    async with database.tenant_session(tenant.tenant_id) as session:
        await job_status.mark_running(session, parent_id, attempt=1)
        children = [
            (child.id, PART.load(child.payload).part)
            for child in await job_status.children_of(session, parent_id)
        ]

    async def finish(child_id: uuid.UUID, part: str) -> None:
        async with database.tenant_session(tenant.tenant_id) as session:
            await job_status.mark_succeeded(session, child_id, {"part": part})
            await job_status.settle_parent_of(session, child_id, rules)

    await asyncio.gather(*(finish(child_id, part) for child_id, part in children))

    async with database.tenant_session(tenant.tenant_id) as session:
        parent = await job_status.get_job(session, parent_id)
    assert (parent.status, parent.progress, parent.message) == ("succeeded", 100, "6 of 6 parts done")
    assert parent.result == {"done": sorted(parts), "failed": []}
