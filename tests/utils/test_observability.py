"""Observability in the app: multiprocess metrics, the span tree of a request, the log contract."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from backend.config import ConnectorSettings, LlmSettings, ObservabilitySettings, Settings
from backend.services.connectors.http import ConnectorHttp
from backend.utils.logging import flush_logs
from backend.utils.observability import configure_tracing, job_span
from backend.utils.prometheus import exposition_registry
from tests.conftest import TEST_DATABASE, client_for, running_app
from tests.factories import create_tenant
from tests.infra.metric_contract import REQUEST_LOG_KEYS
from tests.routes.test_insights import seed_daily
from tests.services.coach.fake_llm import FakeLlmServer, Scripted

REPO = Path(__file__).resolve().parents[2]

# --------------------------------------------------------------------------- multiprocess mode

# One "worker process": records some samples, reports that it is ready, then either exits
# normally (atexit marks it dead), waits to be told to stop, or waits to be killed.
_WORKER = textwrap.dedent(
    """
    import sys
    from backend.utils.prometheus import DB_POOL_SIZE, HTTP_REQUESTS, JOB_QUEUE_DEPTH
    requests, pool, depth, how = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    HTTP_REQUESTS.labels(method="GET", route="/api/health", status="200").inc(requests)
    DB_POOL_SIZE.set(pool)
    JOB_QUEUE_DEPTH.labels(queue="default", status="todo").set(depth)
    print("ready", flush=True)
    if how == "wait":
        sys.stdin.readline()
    """
)


def _start_worker(directory: Path, requests: int, pool: int, depth: int, how: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory), "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-c", _WORKER, str(requests), str(pool), str(depth), how],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    return process


def _samples(exposition: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(exposition.decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_processes_sharing_a_multiprocess_dir_aggregate_in_one_exposition(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prometheus_client import generate_latest

    alive = _start_worker(tmp_path, requests=2, pool=4, depth=7, how="wait")
    exited = _start_worker(tmp_path, requests=3, pool=6, depth=8, how="exit")
    assert exited.wait(timeout=30) == 0
    killed = _start_worker(tmp_path, requests=5, pool=9, depth=9, how="wait")
    killed.send_signal(signal.SIGKILL)  # no atexit: the scrape's sweep must notice
    killed.wait(timeout=30)
    try:
        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
        samples = _samples(generate_latest(exposition_registry()))
        alive_files = list(tmp_path.glob(f"gauge_livesum_{alive.pid}.db"))
    finally:
        assert alive.stdin is not None
        alive.stdin.write("stop\n")
        alive.stdin.close()
        alive.wait(timeout=30)

    # Counters of every process add up, dead ones included (their requests happened).
    route = (("method", "GET"), ("route", "/api/health"), ("status", "200"))
    assert samples[("http_requests_total", route)] == 2 + 3 + 5
    # livesum: only the process still running counts; no pid label.
    assert samples[("db_pool_size", ())] == 4
    # livemostrecent: the latest reading of a live process.
    assert samples[("job_queue_depth", (("queue", "default"), ("status", "todo")))] == 7
    # The killed process's live-gauge file was swept, the exited one's removed at exit.
    assert not list(tmp_path.glob(f"gauge_live*_{killed.pid}.db"))
    assert not list(tmp_path.glob(f"gauge_live*_{exited.pid}.db"))
    assert alive_files
    assert not list(tmp_path.glob(f"gauge_live*_{alive.pid}.db"))  # it exited since


# --------------------------------------------------------------------------- tracing


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on for this process, spans kept in memory (the SDK allows one provider per process)."""
    exporter = InMemorySpanExporter()
    installed = configure_tracing(
        ObservabilitySettings(enable_tracing=True, service_name="dyocense-test"),
        version="9.9.9",
        environment="test",
        exporter=exporter,
    )
    assert installed, "another test configured tracing first"
    yield exporter
    exporter.shutdown()  # later tests still make spans; stop keeping them


@pytest.fixture
async def ollama_app(settings: Settings, fake_llm: FakeLlmServer) -> AsyncIterator[FastAPI]:
    """The app with Ollama embeddings on a loopback fake: coach search makes an outbound call."""
    llm = LlmSettings(
        enable_local=True,
        local_url=fake_llm.url,
        embedding_provider="ollama",
        embedding_model="nomic-embed-text",
        embedding_dimensions=384,
    )
    async with running_app(settings.model_copy(update={"llm": llm})) as application:
        yield application


def _trace_of(exporter: InMemorySpanExporter, root: ReadableSpan) -> list[ReadableSpan]:
    assert root.context is not None
    return [
        s for s in exporter.get_finished_spans() if s.context and s.context.trace_id == root.context.trace_id
    ]


def _server_span(exporter: InMemorySpanExporter, name: str) -> ReadableSpan:
    matches = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER and s.name == name]
    assert len(matches) == 1, [s.name for s in exporter.get_finished_spans()]
    return matches[0]


def _descends_from(span: ReadableSpan, root: ReadableSpan, by_id: dict[int, ReadableSpan]) -> bool:
    assert root.context is not None
    parent = span.parent
    while parent is not None:
        if parent.span_id == root.context.span_id:
            return True
        above = by_id.get(parent.span_id)
        parent = above.parent if above is not None else None
    return False


async def test_request_span_parents_its_database_statements_and_outbound_llm_call(
    spans: InMemorySpanExporter, ollama_app: FastAPI, fake_llm: FakeLlmServer
) -> None:
    async with client_for(ollama_app) as client:
        tenant = await create_tenant(client)
        spans.clear()
        response = await client.get(
            "/api/v1/coach/search", params={"q": "weekly revenue"}, headers=tenant.headers
        )
    assert response.status_code == 200, response.text
    assert fake_llm.requests_to("/api/embed")

    root = _server_span(spans, "GET /api/v1/coach/search")
    assert root.parent is None
    assert root.context is not None
    assert root.attributes is not None
    assert root.attributes["http.route"] == "/api/v1/coach/search"
    assert root.attributes["http.response.status_code"] == 200
    assert root.resource.attributes["service.name"] == "dyocense-test"
    assert root.resource.attributes["service.version"] == "9.9.9"

    tree = _trace_of(spans, root)
    by_id = {s.context.span_id: s for s in tree if s.context is not None}
    statements = [s for s in tree if s.attributes and s.attributes.get("db.system.name") == "postgresql"]
    assert {s.attributes["db.operation.name"] for s in statements if s.attributes} >= {"SELECT", "INSERT"}
    assert all(s.kind is SpanKind.CLIENT and _descends_from(s, root, by_id) for s in statements)
    # The statement text is there, never the bound values.
    assert all("weekly revenue" not in str(s.attributes) for s in statements)

    (llm_call,) = [s for s in tree if s.attributes and "gen_ai.system" in s.attributes]
    assert llm_call.kind is SpanKind.CLIENT
    assert _descends_from(llm_call, root, by_id)
    assert llm_call.attributes is not None
    assert llm_call.attributes["gen_ai.system"] == "ollama"
    assert llm_call.attributes["gen_ai.request.model"] == "nomic-embed-text"
    assert llm_call.attributes["url.full"] == f"{fake_llm.url}/api/embed"
    assert llm_call.attributes["http.response.status_code"] == 200
    # Statements of other requests or of startup did not land in this trace.
    assert all(s.attributes and s.attributes.get("db.namespace") == TEST_DATABASE for s in statements)


async def test_statements_sent_straight_to_the_driver_are_timed_and_traced_too(
    spans: InMemorySpanExporter, client: httpx.AsyncClient
) -> None:
    """Metric ingest and rollups bypass SQLAlchemy's result handling, not its observability."""
    tenant = await create_tenant(client)
    points = [
        {"metric": "driver_probe", "ts": f"2026-01-0{day}T00:00:00Z", "value": 4242.5} for day in (1, 2)
    ]
    before = _samples(generate_latest(exposition_registry()))
    spans.clear()
    response = await client.post("/api/v1/metrics", headers=tenant.headers, json={"points": points})
    assert response.status_code == 200, response.text
    response = await client.get(
        "/api/v1/metrics/driver_probe", headers=tenant.headers, params={"bucket": "day", "tz": "UTC"}
    )
    assert response.status_code == 200, response.text

    by_route = {
        route: _server_span(spans, f"{method} {route}")
        for method, route in (("POST", "/api/v1/metrics"), ("GET", "/api/v1/metrics/{name}"))
    }
    ingest = [
        s for s in _trace_of(spans, by_route["/api/v1/metrics"]) if "business_metrics" in str(s.attributes)
    ]
    rollup = [
        s for s in _trace_of(spans, by_route["/api/v1/metrics/{name}"]) if "date_trunc" in str(s.attributes)
    ]
    # The source rule's check (another source feeding the metric?), then the upsert.
    assert [s.attributes and s.attributes["db.operation.name"] for s in ingest] == ["SELECT", "INSERT"]
    assert [s.attributes and s.attributes["db.operation.name"] for s in rollup] == ["SELECT"]
    assert all(s.kind is SpanKind.CLIENT and "4242.5" not in str(s.attributes) for s in ingest + rollup)

    after = _samples(generate_latest(exposition_registry()))
    counts = {
        kind: after[("db_query_duration_seconds_count", (("operation", kind),))]
        - before.get(("db_query_duration_seconds_count", (("operation", kind),)), 0)
        for kind in ("insert", "select")
    }
    assert counts["insert"] >= 1  # the upsert (with the catalog entries)
    assert counts["select"] >= 3  # caller, definition, rollup


async def test_request_continues_the_callers_trace(
    spans: InMemorySpanExporter, client: httpx.AsyncClient
) -> None:
    trace_id, parent_id = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    spans.clear()
    response = await client.get("/api/health", headers={"traceparent": f"00-{trace_id}-{parent_id}-01"})
    assert response.status_code == 200

    root = _server_span(spans, "GET /api/health")
    assert root.context is not None and root.parent is not None
    assert format(root.context.trace_id, "032x") == trace_id
    assert format(root.parent.span_id, "016x") == parent_id


async def test_failed_llm_call_marks_its_span_and_the_request_span_as_errors(
    spans: InMemorySpanExporter, ollama_app: FastAPI, fake_llm: FakeLlmServer
) -> None:
    async with client_for(ollama_app) as client:
        tenant = await create_tenant(client)
        fake_llm.script("/api/embed", Scripted({"error": "model crashed"}, status=500))
        spans.clear()
        response = await client.get("/api/v1/coach/search", params={"q": "margin"}, headers=tenant.headers)
    assert response.status_code == 503, response.text

    root = _server_span(spans, "GET /api/v1/coach/search")
    assert root.status.status_code is StatusCode.ERROR
    (llm_call,) = [s for s in _trace_of(spans, root) if s.attributes and "gen_ai.system" in s.attributes]
    assert llm_call.status.status_code is StatusCode.ERROR
    assert llm_call.attributes is not None and llm_call.attributes["http.response.status_code"] == 500


async def test_connector_retries_are_one_client_span_each_inside_the_job_span(
    spans: InMemorySpanExporter,
) -> None:
    answers = iter([httpx.Response(503), httpx.Response(200, json={"rows": []})])
    transport = httpx.MockTransport(lambda request: next(answers))
    settings = ConnectorSettings(
        allow_private_networks=True,
        http_max_retries=2,
        http_backoff_base_seconds=0,
        http_backoff_max_seconds=0,
    )

    async def no_sleep(_: float) -> None:
        return None

    spans.clear()
    with job_span("connectors.sync", job_id=str(uuid.uuid4()), attempt=1) as job:
        async with ConnectorHttp(settings, sleep=no_sleep, transport=transport) as http:
            response = await http.get("http://127.0.0.1:9/orders?api_key=secret")
    assert response.status_code == 200

    finished = spans.get_finished_spans()
    (job_finished,) = [s for s in finished if s.kind is SpanKind.CONSUMER]
    assert job_finished.name == "job connectors.sync"
    calls = [s for s in finished if s.kind is SpanKind.CLIENT]
    assert [s.attributes["http.response.status_code"] for s in calls if s.attributes] == [503, 200]
    assert [s.status.status_code for s in calls] == [StatusCode.ERROR, StatusCode.UNSET]
    assert all(s.parent is not None and s.parent.span_id == job.get_span_context().span_id for s in calls)
    assert calls[1].attributes is not None and calls[1].attributes["http.request.resend_count"] == 1
    # Query strings (where APIs take keys) never reach a span.
    assert all("secret" not in str(s.attributes) for s in calls)


# --------------------------------------------------------------------------- log contract


def _request_lines(stream: io.StringIO, request_id: str) -> list[dict[str, object]]:
    flush_logs()  # lines are written by the logging thread
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("request_id") == request_id and line["event"] == "request"]


async def test_request_log_line_carries_the_contract_keys(
    spans: InMemorySpanExporter, client: httpx.AsyncClient, json_logs: io.StringIO
) -> None:
    tenant = await create_tenant(client)
    request_id = f"contract-{uuid.uuid4().hex}"
    spans.clear()
    response = await client.get(
        "/api/v1/goals/not-a-uuid", headers={**tenant.headers, "X-Request-ID": request_id}
    )
    assert response.status_code == 422

    (line,) = _request_lines(json_logs, request_id)
    assert line.keys() >= REQUEST_LOG_KEYS
    assert line["tenant_id"] == str(tenant.tenant_id)
    assert line["route"] == "/api/v1/goals/{goal_id}"
    assert line["method"] == "GET"
    assert line["status"] == 422
    assert line["level"] == "info"
    assert isinstance(line["duration_ms"], float | int) and line["duration_ms"] >= 0
    assert str(line["timestamp"]).endswith("Z")
    root = _server_span(spans, "GET /api/v1/goals/{goal_id}")
    assert root.context is not None
    assert line["trace_id"] == format(root.context.trace_id, "032x")
    assert line["span_id"] == format(root.context.span_id, "016x")


async def test_anonymous_request_log_line_has_no_tenant_and_unmatched_route(
    spans: InMemorySpanExporter, client: httpx.AsyncClient, json_logs: io.StringIO
) -> None:
    request_id = f"anonymous-{uuid.uuid4().hex}"
    response = await client.get("/no/such/path", headers={"X-Request-ID": request_id})
    assert response.status_code == 404

    (line,) = _request_lines(json_logs, request_id)
    assert (REQUEST_LOG_KEYS - {"tenant_id"}) <= line.keys()
    assert "tenant_id" not in line
    assert line["route"] == "unmatched"
    assert len(str(line["trace_id"])) == 32


async def test_app_process_leaves_the_live_gauges_when_its_lifespan_shuts_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """uvicorn workers die of SIGTERM after a graceful shutdown (no atexit): the lifespan marks them."""
    from starlette.types import Message, Receive, Scope, Send

    from backend.utils.observability import RequestContextMiddleware

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    live = tmp_path / f"gauge_livesum_{os.getpid()}.db"
    live.write_bytes(b"")
    kept = tmp_path / f"counter_{os.getpid()}.db"
    kept.write_bytes(b"")
    seen_at_startup: list[bool] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert (await receive())["type"] == "lifespan.startup"
        await send({"type": "lifespan.startup.complete"})
        seen_at_startup.append(live.exists())
        assert (await receive())["type"] == "lifespan.shutdown"
        await send({"type": "lifespan.shutdown.complete"})

    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[Message] = []

    async def receive() -> Message:
        return next(messages)

    async def send(message: Message) -> None:
        sent.append(message)

    middleware = RequestContextMiddleware(app, max_body_bytes=1024)
    await middleware({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)

    assert seen_at_startup == [True]
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert not live.exists()
    assert kept.exists()  # counters stay: what the process counted still counts


async def test_each_coach_agent_step_is_a_span_of_the_chat_request(
    spans: InMemorySpanExporter, client: httpx.AsyncClient
) -> None:
    tenant = await create_tenant(client)
    await seed_daily(client, tenant, days=120)  # a tenant with no data gets no agent at all
    spans.clear()
    response = await client.post(
        "/api/v1/coach/chat",
        headers=tenant.headers,
        json={"message": "Forecast revenue for the next quarter, then set a goal to grow it 10%"},
    )
    assert response.status_code == 200, response.text
    ran = set(response.json()["agents"])
    assert ran, response.json()

    root = _server_span(spans, "POST /api/v1/coach/chat")
    tree = _trace_of(spans, root)
    by_id = {s.context.span_id: s for s in tree if s.context is not None}
    steps = [s for s in tree if s.name.startswith("agent ")]
    assert {s.attributes["agent.name"] for s in steps if s.attributes} == ran
    assert all(_descends_from(s, root, by_id) for s in steps)
    assert all(s.attributes and "agent.status" in s.attributes for s in steps)
