"""The dashboards are real: a running app, a real Prometheus scraping it, every query answered.

Starts the API (uvicorn, two worker processes sharing one Prometheus multiprocess
directory) and the job worker on loopback against their own database on the embedded
server, node-exporter and postgres-exporter (Debian packages), and Prometheus with a
generated config scraping all four every second and loading infra/prometheus/alerts.
It drives real traffic — sign-up, sign-in, metric ingest, rollups, goal progress, an
optimizer run, a file upload and REST connector syncs (one failing) run by the worker,
coach searches whose embeddings go to a fake Ollama on loopback (one failing: the
deliberate 5xx), a 404 — in two rounds a few scrapes apart, so counters *increase*
between samples. Then every PromQL expression of every Grafana panel and every alert
rule goes through Prometheus' HTTP API: each must parse, and each panel must return at
least one series with a number (not NaN). A panel on a metric the app never exports fails.

``make verify-monitoring`` runs this file alone and prints the panel-by-panel report.
Needs /usr/bin/prometheus, prometheus-node-exporter and prometheus-postgres-exporter
(.ci/run installs them); a missing binary fails the test, it never skips.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from backend.config import DatabaseSettings
from backend.utils.database_urls import DatabaseUrls, resolve_database_urls
from backend.utils.embedded_db import EmbeddedPostgres
from backend.utils.migrations import upgrade
from tests.infra.metric_contract import (
    ALERTS_DIR,
    REQUEST_LOG_KEYS,
    alert_rules,
    panel_exprs,
    substitute_grafana_variables,
)
from tests.services.coach.fake_llm import FakeLlmServer, Scripted
from tests.services.connectors.fakes import FakeState, free_port, rest_app, serve

REPO = Path(__file__).resolve().parents[2]
DATABASE = "dyocense_monitoring"
SCRAPE_SECONDS = 1
SECRET_KEY = "monitoring-live-test-secret-key-0123456789abcdef"
REST_RECORDS = [
    {"day": "2026-05-01T00:00:00Z", "sales": 120.0, "visits": 30, "store": "north"},
    {"day": "2026-05-02T00:00:00Z", "sales": 80.5, "visits": 22, "store": "north"},
]
# Connectors feed metrics of their own: manual entry already feeds ``revenue`` (source rule).
REST_MAPPINGS = {"timestamp": "day", "values": {"web_revenue": "sales", "visits": "visits"}, "dimensions": {}}
BINARIES = {
    "prometheus": "/usr/bin/prometheus",
    "node-exporter": "/usr/bin/prometheus-node-exporter",
    "postgres-exporter": "/usr/bin/prometheus-postgres-exporter",
}


pytestmark = pytest.mark.live


@dataclass
class Processes:
    """Child processes of this test; each is stopped (TERM, then KILL) at the end."""

    root: Path
    running: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = (self.root / f"{name}.log").open("wb")
        process = subprocess.Popen(
            argv,
            cwd=REPO,
            env=env or dict(os.environ),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.running.append((name, process))
        return process

    def log(self, name: str) -> str:
        return (self.root / f"{name}.log").read_text(errors="replace")

    def check_alive(self) -> None:
        for name, process in self.running:
            if process.poll() is not None:
                raise AssertionError(f"{name} exited with {process.returncode}:\n{self.log(name)[-3000:]}")

    def stop_all(self) -> None:
        for _, process in reversed(self.running):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for _, process in reversed(self.running):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def wait_until(what: str, check: Any, processes: Processes, timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        processes.check_alive()
        try:
            result = check()
        except (httpx.HTTPError, OSError) as error:
            result, last = None, error
        if result:
            return result
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what} (last error: {last!r})")


def http_ok(url: str) -> bool:
    return httpx.get(url, timeout=5).status_code == 200


# --------------------------------------------------------------------------- the stack


@dataclass
class Stack:
    api: str
    worker_metrics: str
    prometheus: str
    fake_llm: FakeLlmServer
    rest_base: str
    processes: Processes
    targets: dict[str, str]
    # Traffic steps that failed: reported with the panels instead of hiding the report.
    traffic_problems: list[str] = field(default_factory=list)


def monitoring_database(server: EmbeddedPostgres) -> DatabaseUrls:
    server.drop_database(DATABASE)
    urls = resolve_database_urls(DatabaseSettings(url=None, owner_url=None), database=DATABASE)
    upgrade(urls.owner, urls.app_role)
    return urls


def app_environment(urls: DatabaseUrls, multiproc_dir: Path, fake_llm: FakeLlmServer) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(
        {
            "PYTHONPATH": str(REPO),
            "ENVIRONMENT": "test",
            "SECRET_KEY": SECRET_KEY,
            "DATABASE_URL": urls.app,
            "DATABASE_OWNER_URL": urls.owner,
            "DATABASE_WORKER_URL": urls.require_worker(),
            "PROMETHEUS_MULTIPROC_DIR": str(multiproc_dir),
            "ENABLE_PROMETHEUS": "true",
            "ENABLE_TRACING": "true",
            "LOG_JSON": "true",
            "LOG_LEVEL": "INFO",
            "SIGNUP_RATE_LIMIT_PER_HOUR": "100000",
            "LOGIN_RATE_LIMIT_PER_IP": "100000",
            # The coach's embeddings go to a fake Ollama on loopback: recorded LLM calls.
            "ENABLE_LOCAL_LLM": "true",
            "LOCAL_LLM_URL": fake_llm.url,
            "LOCAL_LLM_MODEL": "llama-test",
            "EMBEDDING_PROVIDER": "ollama",
            "EMBEDDING_MODEL": "nomic-embed-text",
            "EMBEDDING_DIMENSIONS": "384",
            "LLM_DEPLOYMENT_MONTHLY_BUDGET_DOLLARS": "50",
            # Connectors reach the fake REST API on loopback; failures fail at once.
            "CONNECTOR_ALLOW_PRIVATE_NETWORKS": "true",
            "CONNECTOR_HTTP_MAX_RETRIES": "0",
            "JOB_RETRY_BASE_SECONDS": "0",
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
        }
    )
    return env


def prometheus_config(targets: dict[str, str]) -> dict[str, Any]:
    return {
        "global": {"scrape_interval": f"{SCRAPE_SECONDS}s", "evaluation_interval": f"{SCRAPE_SECONDS}s"},
        "rule_files": [str(path) for path in sorted(ALERTS_DIR.glob("*.yml"))],
        "scrape_configs": [
            {
                "job_name": job,
                "scrape_timeout": f"{SCRAPE_SECONDS}s",
                "static_configs": [{"targets": [address]}],
            }
            for job, address in targets.items()
        ],
    }


@pytest.fixture(scope="module")
def stack(embedded_server: EmbeddedPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    missing = [path for path in BINARIES.values() if not Path(path).exists()]
    assert not missing, (
        f"missing {missing}: apt-get install prometheus prometheus-node-exporter prometheus-postgres-exporter"
    )
    root = tmp_path_factory.mktemp("monitoring")
    processes = Processes(root)
    urls = monitoring_database(embedded_server)
    fake_llm = FakeLlmServer(dimensions=384).start()
    api_dir, worker_dir = root / "multiproc-api", root / "multiproc-worker"
    api_dir.mkdir()
    worker_dir.mkdir()
    ports = {name: free_port() for name in ("api", "worker", "node", "postgres", "prometheus")}
    targets = {
        "dyocense-backend": f"127.0.0.1:{ports['api']}",
        "dyocense-worker": f"127.0.0.1:{ports['worker']}",
        "node-exporter": f"127.0.0.1:{ports['node']}",
        "postgres-exporter": f"127.0.0.1:{ports['postgres']}",
    }
    rest_state = FakeState()
    try:
        with serve(rest_app(rest_state, REST_RECORDS)) as rest_base:
            python = sys.executable
            processes.start(
                "api",
                [python, "-m", "backend.server", "--workers", "2", "--port", str(ports["api"])],
                app_environment(urls, api_dir, fake_llm),
            )
            worker_env = app_environment(urls, worker_dir, fake_llm) | {
                "WORKER_METRICS_PORT": str(ports["worker"]),
                "OTEL_SERVICE_NAME": "dyocense-worker",
            }
            processes.start("worker", [python, "-m", "backend.worker"], worker_env)
            processes.start(
                "node-exporter",
                [BINARIES["node-exporter"], f"--web.listen-address=127.0.0.1:{ports['node']}"],
            )
            credentials = embedded_server.credentials()
            owner_dsn = (
                credentials.url(DATABASE, role="dyocense_owner", driver="postgresql") + "?sslmode=disable"
            )
            processes.start(
                "postgres-exporter",
                [BINARIES["postgres-exporter"], f"--web.listen-address=127.0.0.1:{ports['postgres']}"],
                dict(os.environ) | {"DATA_SOURCE_NAME": owner_dsn},
            )
            config = root / "prometheus.yml"
            config.write_text(yaml.safe_dump(prometheus_config(targets)))
            processes.start(
                "prometheus",
                [
                    BINARIES["prometheus"],
                    f"--config.file={config}",
                    f"--storage.tsdb.path={root / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{ports['prometheus']}",
                ],
            )
            api = f"http://127.0.0.1:{ports['api']}"
            prometheus = f"http://127.0.0.1:{ports['prometheus']}"
            wait_until("the API to be ready", lambda: http_ok(f"{api}/api/ready"), processes, timeout=180)
            wait_until(
                "the worker's metrics",
                lambda: http_ok(f"http://{targets['dyocense-worker']}/metrics"),
                processes,
            )
            wait_until("Prometheus", lambda: http_ok(f"{prometheus}/-/ready"), processes)
            yield Stack(
                api=api,
                worker_metrics=f"http://{targets['dyocense-worker']}/metrics",
                prometheus=prometheus,
                fake_llm=fake_llm,
                rest_base=rest_base,
                processes=processes,
                targets=targets,
            )
    finally:
        processes.stop_all()
        fake_llm.stop()
        shutil.rmtree(root / "tsdb", ignore_errors=True)


# --------------------------------------------------------------------------- Prometheus


def query(stack: Stack, expr: str) -> dict[str, Any]:
    response = httpx.get(f"{stack.prometheus}/api/v1/query", params={"query": expr}, timeout=30)
    body: dict[str, Any] = response.json()
    return body


def targets_up(stack: Stack) -> bool:
    result = query(stack, "up == 1")["data"]["result"]
    return {series["metric"]["job"] for series in result} == set(stack.targets)


def scrapes_since(stack: Stack, job: str, moment: float) -> int:
    """How many scrapes of ``job`` Prometheus stored after ``moment`` (unix time)."""
    result = query(stack, f'count_over_time(up{{job="{job}"}}[5m])')["data"]["result"]
    # Samples stored after `moment`: evaluate the count now and at `moment`.
    before = httpx.get(
        f"{stack.prometheus}/api/v1/query",
        params={"query": f'count_over_time(up{{job="{job}"}}[5m])', "time": moment},
        timeout=30,
    ).json()["data"]["result"]
    now_count = float(result[0]["value"][1]) if result else 0.0
    then_count = float(before[0]["value"][1]) if before else 0.0
    return int(now_count - then_count)


def wait_for_scrapes(stack: Stack, count: int = 3) -> None:
    moment = time.time()
    wait_until(
        f"{count} new scrapes of every target",
        lambda: all(scrapes_since(stack, job, moment) >= count for job in stack.targets),
        stack.processes,
    )


def has_number(result: dict[str, Any]) -> bool:
    data = result["data"]
    values = [series["value"][1] for series in data["result"]] if data["resultType"] == "vector" else []
    if data["resultType"] == "scalar":
        values = [data["result"][1]]
    return any(value.lower() not in {"nan", "+inf", "-inf", "inf"} for value in values)


# --------------------------------------------------------------------------- traffic


@dataclass
class Tenant:
    email: str
    password: str
    headers: dict[str, str]


async def sign_up(client: httpx.AsyncClient) -> Tenant:
    email, password = f"owner-{uuid.uuid4().hex[:12]}@example.com", "correct-horse-battery-staple"
    response = await client.post(
        "/api/v1/tenants", json={"name": "Monitoring Co", "owner_email": email, "owner_password": password}
    )
    assert response.status_code == 201, response.text
    token = response.json()["tokens"]["access_token"]
    return Tenant(email, password, {"Authorization": f"Bearer {token}"})


async def sign_in(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.post(
        "/api/v1/auth/login", json={"email": tenant.email, "password": tenant.password}
    )
    assert response.status_code == 200, response.text
    tenant.headers = {"Authorization": f"Bearer {response.json()['access_token']}"}


def month_start(months_back: int) -> datetime:
    today = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    year, month = divmod(today.year * 12 + today.month - 1 - months_back, 12)
    return today.replace(year=year, month=month + 1)


async def ingest_and_query(client: httpx.AsyncClient, tenant: Tenant) -> None:
    points = [
        {"metric": "revenue", "ts": month_start(back).isoformat(), "value": 1000 + 50 * (6 - back)}
        for back in range(6, 0, -1)
    ]
    points += [
        {"metric": "orders", "ts": (datetime.now(UTC) - timedelta(days=day)).isoformat(), "value": 10 + day}
        for day in range(14)
    ]
    ingested = await client.post("/api/v1/metrics", headers=tenant.headers, json={"points": points})
    assert ingested.status_code == 200, ingested.text
    rollup = await client.get("/api/v1/metrics/orders", headers=tenant.headers, params={"bucket": "week"})
    assert rollup.status_code == 200, rollup.text
    monthly = await client.get("/api/v1/metrics/revenue", headers=tenant.headers, params={"bucket": "month"})
    assert monthly.status_code == 200, monthly.text


async def goal_progress(client: httpx.AsyncClient, tenant: Tenant) -> None:
    deadline = (month_start(-3) + timedelta(days=10)).isoformat()
    goal = await client.post(
        "/api/v1/goals",
        headers=tenant.headers,
        json={
            "title": "Grow revenue",
            "metric": "revenue",
            "target_value": 1600,
            "direction": "increase",
            "deadline": deadline,
        },
    )
    assert goal.status_code == 201, goal.text
    progress = await client.get(f"/api/v1/goals/{goal.json()['id']}/progress", headers=tenant.headers)
    assert progress.status_code == 200, progress.text


async def optimize(client: httpx.AsyncClient, tenant: Tenant) -> None:
    templates = (await client.get("/api/v1/optimizer/templates", headers=tenant.headers)).json()
    example = next(t["example"] for t in templates["items"] if t["name"] == "budget_allocation")
    run = await client.post(
        "/api/v1/optimizer/runs",
        headers=tenant.headers,
        json={"template": "budget_allocation", "params": example},
    )
    assert run.status_code == 201, run.text


async def coach_search(client: httpx.AsyncClient, tenant: Tenant, fake_llm: FakeLlmServer) -> None:
    found = await client.get(
        "/api/v1/coach/search", headers=tenant.headers, params={"q": "why did revenue drop"}
    )
    assert found.status_code == 200, found.text
    # The deliberate error: the embedding provider fails, the API answers 503.
    fake_llm.script("/api/embed", Scripted({"error": "model crashed"}, status=500))
    failed = await client.get("/api/v1/coach/search", headers=tenant.headers, params={"q": "margin by store"})
    assert failed.status_code == 503, failed.text


async def connector_syncs(client: httpx.AsyncClient, tenant: Tenant, rest_base: str) -> list[tuple[str, str]]:
    """A file upload (synchronous) and two REST syncs for the worker: one good, one rejected (401)."""
    file_source = await client.post(
        "/api/v1/data-sources",
        headers=tenant.headers,
        json={"name": f"file-{uuid.uuid4().hex[:6]}", "connector_type": "file", "config": {"layout": "wide"}},
    )
    assert file_source.status_code == 201, file_source.text
    upload = await client.post(
        f"/api/v1/data-sources/{file_source.json()['id']}/upload",
        headers=tenant.headers,
        files={"file": ("sales.csv", b"date,store_revenue\n2026-01-05,100.5\n2026-01-06,80\n", "text/csv")},
    )
    assert upload.status_code == 201, upload.text
    started = []
    for name, config in [
        ("good", {"url": rest_base + "/page", "record_path": "data.items", "mappings": REST_MAPPINGS}),
        (
            "rejected",
            {"url": rest_base + "/no-such-endpoint", "record_path": "data.items", "mappings": REST_MAPPINGS},
        ),
    ]:
        source = await client.post(
            "/api/v1/data-sources",
            headers=tenant.headers,
            json={"name": f"{name}-{uuid.uuid4().hex[:6]}", "connector_type": "rest_json", "config": config},
        )
        assert source.status_code == 201, source.text
        sync = await client.post(f"/api/v1/data-sources/{source.json()['id']}/sync", headers=tenant.headers)
        assert sync.status_code == 202, sync.text
        started.append((source.json()["id"], sync.json()["id"]))
    return started


async def wait_for_syncs(
    client: httpx.AsyncClient, tenant: Tenant, started: list[tuple[str, str]]
) -> list[str]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        statuses = []
        for source_id, sync_id in started:
            history = (
                await client.get(f"/api/v1/data-sources/{source_id}/syncs", headers=tenant.headers)
            ).json()
            statuses.append(next(item["status"] for item in history["items"] if item["id"] == sync_id))
        if all(status in {"succeeded", "failed"} for status in statuses):
            return statuses
        await asyncio.sleep(0.5)
    raise AssertionError(f"connector syncs did not finish: {statuses}")


async def coach_chat(client: httpx.AsyncClient, tenant: Tenant) -> None:
    """A chat turn; the fake Ollama answers the LLM calls (default replies in Ollama's wire format)."""
    turn = await client.post(
        "/api/v1/coach/chat", headers=tenant.headers, json={"message": "How is revenue doing?"}
    )
    assert turn.status_code == 200, turn.text


async def wait_for_job(client: httpx.AsyncClient, tenant: Tenant, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        job: dict[str, Any] = (await client.get(f"/api/v1/jobs/{job_id}", headers=tenant.headers)).json()
        if job.get("status") in {"succeeded", "failed"}:
            return job
        await asyncio.sleep(0.5)
    raise AssertionError(f"job {job_id} did not finish")


async def evidence_analysis(client: httpx.AsyncClient, tenant: Tenant) -> None:
    """A causal analysis of ad spend on revenue over 90 days of daily points."""
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=90)
    points = []
    for day in range(90):
        spend = 100 + (day * 37) % 50
        ts = (start + timedelta(days=day)).isoformat()
        points += [
            {"metric": "ad_spend", "ts": ts, "value": spend},
            {"metric": "revenue", "ts": ts, "value": 500 + 3 * spend + (day * 53) % 40},
        ]
    ingested = await client.post("/api/v1/metrics", headers=tenant.headers, json={"points": points})
    assert ingested.status_code == 200, ingested.text
    window = {"start": start.isoformat(), "end": (start + timedelta(days=90)).isoformat(), "frequency": "D"}
    analysis = await client.post(
        "/api/v1/evidence/analyze",
        headers=tenant.headers,
        json={"outcome": "revenue", "treatment": "ad_spend", **window},
    )
    assert analysis.status_code in {201, 202}, analysis.text
    if analysis.status_code == 202:
        job = await wait_for_job(client, tenant, analysis.json()["job_id"])
        assert job["status"] == "succeeded", job


async def forecast(client: httpx.AsyncClient, tenant: Tenant) -> None:
    """A backtested monthly forecast of three years of revenue."""
    today = datetime.now(UTC).date()
    points = []
    for back in range(36, 0, -1):
        index = today.year * 12 + today.month - 1 - back
        month = f"{index // 12:04d}-{index % 12 + 1:02d}-01T00:00:00Z"
        points.append(
            {"metric": "monthly_sales", "ts": month, "value": 1000 + 10 * back + 80 * (back % 12 == 0)}
        )
    ingested = await client.post("/api/v1/metrics", headers=tenant.headers, json={"points": points})
    assert ingested.status_code == 200, ingested.text
    made = await client.post(
        "/api/v1/forecasts",
        headers=tenant.headers,
        json={"metric": "monthly_sales", "horizon": 3, "frequency": "month"},
    )
    assert made.status_code == 201, made.text


async def drive_traffic(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.api, timeout=300) as client:
        tenant = await sign_up(client)
        await sign_in(client, tenant)
        await ingest_and_query(client, tenant)
        await goal_progress(client, tenant)
        await optimize(client, tenant)
        await coach_search(client, tenant, stack.fake_llm)
        started = await connector_syncs(client, tenant, stack.rest_base)
        missing = await client.get(f"/api/v1/goals/{uuid.uuid4()}", headers=tenant.headers)
        assert missing.status_code == 404
        assert (await client.get("/api/v1/no-such-route")).status_code == 404
        # A step that fails is reported beside the panels it leaves empty.
        for step in (coach_chat, evidence_analysis, forecast):
            try:
                await step(client, tenant)
            except (AssertionError, httpx.HTTPError) as error:
                stack.traffic_problems.append(f"{step.__name__} failed: {error}"[:1000])
        statuses = await wait_for_syncs(client, tenant, started)
        assert statuses == ["succeeded", "failed"], statuses


# --------------------------------------------------------------------------- the test


@pytest.fixture(scope="module")
async def scraped(stack: Stack) -> AsyncIterator[Stack]:
    wait_until("every target up in Prometheus", lambda: targets_up(stack), stack.processes)
    # Two rounds a few scrapes apart: every series exists in one scrape and has grown by the next.
    await drive_traffic(stack)
    wait_for_scrapes(stack)
    await drive_traffic(stack)
    wait_for_scrapes(stack)
    yield stack


def panel_report(stack: Stack) -> list[tuple[str, str, str, str]]:
    """(dashboard, panel, expression, problem or '') for every panel query."""
    report = []
    for dashboard, title, expr in panel_exprs():
        promql = substitute_grafana_variables(expr)
        answer = query(stack, promql)
        if answer.get("status") != "success":
            problem = f"does not parse/evaluate: {answer.get('error')}"
        elif not answer["data"]["result"]:
            problem = "no data"
        elif not has_number(answer):
            problem = "only NaN/Inf (no increase between scrapes)"
        else:
            problem = ""
        report.append((dashboard, title, promql, problem))
    return report


async def test_every_dashboard_panel_returns_data_from_the_running_app(scraped: Stack) -> None:
    report = panel_report(scraped)
    print("\n".join(f"{'FAIL' if p else 'ok  '} {d} | {t} | {p or e}" for d, t, e, p in report))
    failures = [f"{d} | {t} | {e} -> {p}" for d, t, e, p in report if p]
    traffic = sorted(set(scraped.traffic_problems))
    print("\n".join(f"traffic: {problem}" for problem in traffic))
    assert not failures, (
        f"{len(failures)} of {len(report)} panel queries show nothing:\n"
        + "\n".join(failures)
        + ("\ntraffic steps:\n" + "\n".join(traffic) if traffic else "")
    )


async def test_every_alert_rule_parses_and_evaluates_in_prometheus(scraped: Stack) -> None:
    problems = []
    for rule in alert_rules():
        answer = query(scraped, rule["expr"])
        if answer.get("status") != "success":
            problems.append(f"{rule['alert']}: {answer.get('error')}")
    # Prometheus loaded the same files as rule groups and evaluates them without error.
    async with httpx.AsyncClient(timeout=30) as client:
        groups = (await client.get(f"{scraped.prometheus}/api/v1/rules")).json()["data"]["groups"]
    loaded = {rule["name"]: rule for group in groups for rule in group["rules"]}
    assert set(loaded) == {rule["alert"] for rule in alert_rules()}
    problems += [
        f"{name}: {rule.get('lastError')}" for name, rule in loaded.items() if rule["health"] != "ok"
    ]
    assert not problems, "\n".join(problems)


async def test_app_processes_aggregate_and_log_the_contract(scraped: Stack) -> None:
    # Two uvicorn processes wrote to one multiprocess directory; /metrics answers for both.
    async with httpx.AsyncClient(timeout=30) as client:
        exposition = (await client.get(f"{scraped.api}/metrics")).text
    assert "http_requests_total{" in exposition and 'pid="' not in exposition
    files = {path.name.split("_")[-1] for path in (scraped.processes.root / "multiproc-api").glob("*.db")}
    assert len(files) >= 2, files
    # Every access log line of the API is JSON with the contract keys.
    lines = [json.loads(line) for line in scraped.processes.log("api").splitlines() if line.startswith("{")]
    requests = [line for line in lines if line.get("event") == "request"]
    assert requests
    keys = REQUEST_LOG_KEYS - {"tenant_id"}  # on authenticated requests only: checked below
    assert all(keys <= line.keys() for line in requests), [
        line for line in requests if not keys <= line.keys()
    ][:3]
    authenticated = [line for line in requests if line["route"] == "/api/v1/goals/{goal_id}/progress"]
    assert authenticated and all("tenant_id" in line for line in authenticated)
