"""A decrypted credential never reaches a log line, a sync run or a job status.

A client library may quote the credential it was given in its error message; the sync
fails with it in flight (in a local variable and in the message). The worker logs the
failure (procrastinate with the traceback, and our own line), the sync run and the job
record its message: all of them redacted.
"""

from __future__ import annotations

import io
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from backend.services.connectors.base import SyncContext, SyncOutcome
from backend.services.connectors.types.stripe import StripeConnector
from backend.utils.logging import flush_logs
from backend.utils.redaction import REDACTED
from tests.conftest import logs_into
from tests.factories import create_tenant
from tests.services.connectors.support import Worker, create_source, start_sync


@pytest.fixture
def worker_logs() -> Iterator[io.StringIO]:
    with logs_into(io.StringIO(), json=False) as stream:  # the worker's console output, tracebacks included
        yield stream


async def test_a_sync_failing_with_its_credential_in_the_message_never_shows_it(
    api: httpx.AsyncClient, worker: Worker, worker_logs: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    credential = f"sk_live_{secrets.token_hex(16)}"

    async def sync_quoting_its_credential(
        self: StripeConnector, context: SyncContext, cursor: dict[str, Any]
    ) -> SyncOutcome:
        key = context.credentials.secret_key
        raise RuntimeError(f"authentication with {key} was refused")

    monkeypatch.setattr(StripeConnector, "sync", sync_quoting_its_credential)
    tenant = await create_tenant(api)
    source = await create_source(
        api, tenant.headers, connector_type="stripe", config={}, credentials={"secret_key": credential}
    )

    started = await start_sync(api, tenant.headers, source["id"])
    await worker.run()
    flush_logs()

    history = await api.get(f"/api/v1/data-sources/{source['id']}/syncs", headers=tenant.headers)
    job = await api.get(f"/api/v1/jobs/{started['job_id']}", headers=tenant.headers)
    (run,) = [item for item in history.json()["items"] if item["id"] == started["id"]]
    logged = worker_logs.getvalue()
    assert run["status"] == "failed" and job.json()["status"] == "failed"
    for shown in (history.text, job.text, logged):
        assert credential not in shown
    expected = f"RuntimeError: authentication with {REDACTED} was refused"
    assert run["error"]["message"] == expected and job.json()["error"]["message"] == expected
    assert "Traceback (most recent call last)" in logged and expected in logged
