"""Offline validation of the deployment and monitoring files (no Docker engine needed).

Each check runs the real tool where one exists (docker-compose, hadolint, promtool, nginx) and
fails - never skips - when the tool is missing: CI installs them (see infra/README.md).
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.infra.metric_contract import (
    ALLOWED_METRICS,
    APP_COUNTERS,
    APP_GAUGES,
    APP_HISTOGRAMS,
    REQUEST_LOG_KEYS,
    alert_rules,
    check_expression_uses_contract,
    dashboards,
    panel_exprs,
    panels,
    promql_selectors,
    substitute_grafana_variables,
)

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
COMPOSE_FILE = REPO / "docker-compose.external.yml"
DOCKERFILE = REPO / "Dockerfile.unified"
ENV_EXAMPLE = INFRA / "env.compose.example"
PROMETHEUS_DIR = INFRA / "prometheus"
DATASOURCES_FILE = INFRA / "grafana" / "provisioning" / "datasources" / "datasources.yml"
PROMTAIL_FILE = INFRA / "promtail" / "promtail.yml"
NGINX_DIR = INFRA / "nginx"
POSTGRES_INIT = INFRA / "postgres" / "10-dyocense-roles.sh"

# Every setting the app and the stack read (the brief's list, plus the stack's own).
REQUIRED_ENV = {
    "ENVIRONMENT",
    "SECRET_KEY",
    "DATABASE_URL",
    "DATABASE_OWNER_URL",
    "DATABASE_APP_ROLE",
    "DATABASE_WORKER_URL",
    "DATABASE_WORKER_ROLE",
    "CORS_ORIGINS",
    "ENABLE_PROMETHEUS",
    "PROMETHEUS_MULTIPROC_DIR",
    "ENABLE_TRACING",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_SERVICE_NAME",
    "LOG_LEVEL",
    "LOG_JSON",
    "ENABLE_LOCAL_LLM",
    "LOCAL_LLM_URL",
    "LOCAL_LLM_MODEL",
    "OPENAI_API_KEY",
    "GRAFANA_ADMIN_PASSWORD",
    "POSTGRES_PASSWORD",
    "DATA_SOURCE_NAME",
}
SECRET_KEY_PATTERN = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY|_URL$|DATA_SOURCE_NAME", re.I)


# --------------------------------------------------------------------------- helpers
def tool(name: str) -> str:
    """Path of a command-line tool: the venv's bin first, then PATH and the sbin directories."""
    candidates = [Path(sys.executable).parent / name]
    found = shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))
    if found:
        candidates.append(Path(found))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    pytest.fail(f"required tool {name!r} is not installed (see infra/README.md, 'Offline validation')")


def run(args: list[str], *, env: dict[str, str] | None = None, cwd: Path = REPO, stdin: str | None = None):
    return subprocess.run(
        args, cwd=cwd, env=env, input=stdin, capture_output=True, text=True, timeout=120, check=False
    )


def load_yaml(path: Path):
    return yaml.safe_load(path.read_text())


def promtool_check_rules(tmp_path: Path, exprs: list[str]) -> subprocess.CompletedProcess:
    rule_file = tmp_path / "panel_exprs.yml"
    rules = [{"record": f"dyocense:panel_check:{i}", "expr": expr} for i, expr in enumerate(exprs)]
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "panel-exprs", "rules": rules}]}))
    return run([tool("promtool"), "check", "rules", str(rule_file)])


# --------------------------------------------------------------------------- compose
PROFILES = {
    "default": [],
    "monitoring": ["monitoring"],
    "production": ["production"],
    "monitoring+production": ["monitoring", "production"],
}
CORE_SERVICES = {"postgres", "migrate", "backend", "worker"}
MONITORING_SERVICES = {
    "prometheus",
    "grafana",
    "loki",
    "promtail",
    "otel-collector",
    "jaeger",
    "postgres-exporter",
    "node-exporter",
}


@pytest.fixture(scope="module")
def compose_env(tmp_path_factory) -> dict[str, str]:
    """Environment for docker-compose with a throw-away env file of dummy values."""
    env_file = tmp_path_factory.mktemp("compose") / "env.compose"
    env_file.write_text(re.sub(r"CHANGE_ME\w*", "dummy0123456789", ENV_EXAMPLE.read_text()))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "DOCKER_"))}
    env["DYOCENSE_ENV_FILE"] = str(env_file)
    return env


def compose(compose_env, profiles: list[str], *args: str) -> subprocess.CompletedProcess:
    command = [tool("docker-compose"), "-f", str(COMPOSE_FILE)]
    for profile in profiles:
        command += ["--profile", profile]
    return run([*command, *args], env=compose_env)


@pytest.mark.parametrize("profile", list(PROFILES))
def test_compose_config_is_valid(compose_env, profile):
    result = compose(compose_env, PROFILES[profile], "config", "-q")
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", f"compose warnings: {result.stderr}"


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        ("default", CORE_SERVICES),
        ("monitoring", CORE_SERVICES | MONITORING_SERVICES),
        ("production", CORE_SERVICES | {"nginx"}),
    ],
)
def test_compose_profiles_hold_the_expected_services(compose_env, profile, expected):
    result = compose(compose_env, PROFILES[profile], "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert set(json.loads(result.stdout)["services"]) == expected


def test_compose_without_env_file_is_refused(compose_env, tmp_path):
    env = dict(compose_env, DYOCENSE_ENV_FILE=str(tmp_path / "missing.env"))
    result = run([tool("docker-compose"), "-f", str(COMPOSE_FILE), "config", "-q"], env=env)
    assert result.returncode != 0


def test_compose_images_are_pinned():
    services = load_yaml(COMPOSE_FILE)["services"]
    for name, service in services.items():
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag, f"{name}: image {image!r} has no tag"
        assert tag != "latest" and "latest" not in image, f"{name}: {image!r} floats"
        if name not in {"migrate", "backend", "worker"}:
            assert re.search(r"\d+\.\d+", tag), f"{name}: {image!r} is not pinned to a version"


def test_compose_holds_no_secrets():
    raw = load_yaml(COMPOSE_FILE)
    for name, service in raw["services"].items():
        environment = service.get("environment", {})
        assert isinstance(environment, dict), f"{name}: use a mapping for environment"
        for key in environment:
            assert not SECRET_KEY_PATTERN.search(key), f"{name}: {key} belongs in the env file"
    text = COMPOSE_FILE.read_text()
    assert not re.search(r"://[^/\s:@]+:[^@\s]+@", text), "a URL with credentials is inline"
    for service in ("postgres", "migrate", "backend", "worker", "grafana", "postgres-exporter"):
        assert "env_file" in raw["services"][service], f"{service} needs the env file"


def test_compose_health_checks_and_start_order():
    services = load_yaml(COMPOSE_FILE)["services"]
    for name in ("postgres", "worker", "prometheus", "grafana", "nginx"):
        assert "test" in services[name]["healthcheck"], f"{name} has no health check"
    # backend's health check is the image's HEALTHCHECK (checked on the Dockerfile).
    assert services["migrate"]["command"] == ["alembic", "upgrade", "head"]
    assert services["worker"]["command"] == ["python", "-m", "backend.worker"]
    for name in ("backend", "worker"):
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["nginx"]["depends_on"]["backend"]["condition"] == "service_healthy"
    assert services["nginx"]["profiles"] == ["production"]
    for name in MONITORING_SERVICES:
        assert services[name]["profiles"] == ["monitoring"], name


def test_compose_keeps_state_in_named_volumes():
    raw = load_yaml(COMPOSE_FILE)
    declared = set(raw["volumes"])
    for service, path in [
        ("postgres", "/home/postgres/pgdata"),
        ("prometheus", "/prometheus"),
        ("grafana", "/var/lib/grafana"),
        ("loki", "/loki"),
    ]:
        sources = {v.split(":")[0] for v in raw["services"][service]["volumes"] if v.split(":")[1] == path}
        assert sources and sources <= declared, f"{service}:{path} is not a named volume"


def test_compose_mounts_existing_files():
    for service in load_yaml(COMPOSE_FILE)["services"].values():
        for volume in service.get("volumes", []):
            source = re.sub(r"\$\{(\w+):-([^}]*)\}", r"\2", volume).split(":")[0]  # ${VAR:-default}
            if source.startswith("./"):
                assert (REPO / source).exists(), f"mounted path {source} does not exist"


def test_env_example_documents_every_setting_without_real_secrets():
    entries = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            entries[key.strip()] = value.strip()
    assert set(entries) >= REQUIRED_ENV, f"missing: {sorted(REQUIRED_ENV - set(entries))}"
    for key, value in entries.items():
        if re.search(r"PASSWORD|SECRET_KEY|API_KEY", key):
            assert value == "" or "CHANGE_ME" in value, f"{key} looks like a real secret"
    for key in ("DATABASE_URL", "DATABASE_OWNER_URL", "DATABASE_WORKER_URL", "DATA_SOURCE_NAME"):
        assert "CHANGE_ME" in entries[key], key
    assert entries["DATABASE_URL"].split("//")[1].startswith(entries["DATABASE_APP_ROLE"] + ":")
    assert entries["DATABASE_WORKER_URL"].split("//")[1].startswith(entries["DATABASE_WORKER_ROLE"] + ":")
    assert "env.compose" in (INFRA / ".gitignore").read_text().split()


# --------------------------------------------------------------------------- Dockerfile
def test_hadolint_is_clean():
    result = run([tool("hadolint"), "--no-color", str(DOCKERFILE)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_builds_one_slim_non_root_image():
    text = DOCKERFILE.read_text()
    bases = re.findall(r"^FROM\s+(\S+)", text, re.M)
    assert len(bases) >= 2, "multi-stage build expected"
    for base in bases:
        assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", base), base
    assert re.search(r"--from=builder\s+/opt/venv", text)
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    healthcheck = re.search(r"^HEALTHCHECK .*?CMD (\[.*?\])$", text, re.M | re.S)
    assert healthcheck and "/api/health" in healthcheck.group(1) and '"python"' in healthcheck.group(1)
    assert 'CMD ["python", "-m", "backend.server", "--host", "0.0.0.0", "--port", "8001"]' in text
    assert "https://download.pytorch.org/whl/cpu" in text
    assert "EXPOSE 8001" in text


def test_dockerignore_allows_only_what_the_image_copies():
    lines = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()]
    patterns = [line for line in lines if line and not line.startswith("#")]
    assert patterns[0] == "*", "allow-list expected: exclude everything first"
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    copied = set()
    for source in re.findall(r"^COPY\s+(?!--from)(?:--\S+\s+)*(.+)\s+\S+$", DOCKERFILE.read_text(), re.M):
        copied |= {s.rstrip("/") for s in source.split()}
    assert copied == allowed, f"COPY sources {sorted(copied)} vs .dockerignore allow-list {sorted(allowed)}"


# --------------------------------------------------------------------------- Prometheus
def test_promtool_check_config():
    result = run([tool("promtool"), "check", "config", str(PROMETHEUS_DIR / "prometheus.yml")])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "rule files found" in result.stdout  # the alert files are loaded by the config


def test_prometheus_scrapes_the_app_and_the_exporters():
    jobs = {job["job_name"]: job for job in load_yaml(PROMETHEUS_DIR / "prometheus.yml")["scrape_configs"]}
    assert {"dyocense-backend", "dyocense-worker", "postgres-exporter", "node-exporter"} <= set(jobs)
    assert jobs["dyocense-backend"]["dns_sd_configs"][0] == {
        "names": ["backend"],
        "type": "A",
        "port": 8001,
        "refresh_interval": "30s",
    }
    assert jobs["dyocense-worker"]["dns_sd_configs"][0]["port"] == 8002


def test_promtool_check_rules():
    files = sorted(str(p) for p in (PROMETHEUS_DIR / "alerts").glob("*.yml"))
    result = run([tool("promtool"), "check", "rules", *files])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("test_file", sorted(p.name for p in (PROMETHEUS_DIR / "tests").glob("*_test.yml")))
def test_promtool_unit_tests_pass(test_file):
    result = run([tool("promtool"), "test", "rules", test_file], cwd=PROMETHEUS_DIR / "tests")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_file_and_alert_has_a_unit_test():
    tested: set[str] = set()
    for alert_file in sorted((PROMETHEUS_DIR / "alerts").glob("*.yml")):
        test_file = PROMETHEUS_DIR / "tests" / f"{alert_file.stem}_test.yml"
        assert test_file.exists(), f"{alert_file.name} has no {test_file.name}"
        spec = load_yaml(test_file)
        assert f"../alerts/{alert_file.name}" in spec["rule_files"]
        for case in spec["tests"]:
            for check in case.get("alert_rule_test", []):
                if check["exp_alerts"]:
                    tested.add(check["alertname"])
    names = {rule["alert"] for rule in alert_rules()}
    assert names - tested == set(), f"alerts never shown firing in a test: {sorted(names - tested)}"


def test_alerts_cover_the_required_failures():
    names = {rule["alert"] for rule in alert_rules()}
    assert {
        "DyocenseHigh5xxRate",
        "DyocenseHighLatencyP95",
        "DyocenseDatabaseDown",
        "DyocenseDatabaseSlowQueries",
        "DyocenseJobFailureRate",
        "DyocenseJobBacklog",
        "DyocenseLLMSpendRateOverBudget",
        "DyocenseScrapeTargetDown",
    } <= names
    readme = (INFRA / "README.md").read_text()
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-")
        for h in re.findall(r"^#+ (.+)$", readme, re.M)
    }
    for rule in alert_rules():
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert {"summary", "description", "runbook"} <= set(rule["annotations"])
        anchor = rule["annotations"]["runbook"].split("#")[1]
        assert anchor in anchors, f"{rule['alert']}: runbook anchor #{anchor} not in infra/README.md"


def test_alert_expressions_use_only_contract_metrics():
    problems = [p for rule in alert_rules() for p in check_expression_uses_contract(rule["expr"])]
    assert problems == []


# --------------------------------------------------------------------------- Grafana
def test_dashboards_are_valid_and_cover_the_required_views():
    found = dashboards()
    assert set(found) == {
        "system-health.json",
        "api-performance.json",
        "database.json",
        "llm-usage.json",
        "jobs-connectors.json",
    }
    uids = [d["uid"] for d in found.values()]
    assert len(set(uids)) == len(uids)
    for name, dashboard in found.items():
        ids = [panel["id"] for panel in panels(dashboard)]
        assert len(set(ids)) == len(ids), f"{name}: duplicate panel ids"
        assert any(p.get("targets") for p in panels(dashboard)), f"{name}: no queries"
        for panel in panels(dashboard):
            if panel["type"] != "row":
                assert panel.get("targets"), f"{name}: panel {panel['title']!r} has no query"
                grid = panel["gridPos"]
                assert grid["x"] + grid["w"] <= 24, f"{name}: {panel['title']!r} overflows the grid"


def test_dashboards_use_the_provisioned_datasources():
    provisioned = {ds["uid"]: ds["type"] for ds in load_yaml(DATASOURCES_FILE)["datasources"]}
    for name, dashboard in dashboards().items():
        for panel in panels(dashboard):
            for ref in [panel.get("datasource"), *(t.get("datasource") for t in panel.get("targets", []))]:
                if ref and ref.get("type") != "grafana":
                    assert provisioned.get(ref["uid"]) == ref["type"], f"{name}: {ref}"
                    assert ref["type"] in {"prometheus", "loki"}, f"{name}: {ref}"


PROMTAIL_LABELS = {"service", "level", "route", "stream"}


def test_log_panels_query_loki_by_the_labels_promtail_sets():
    exprs = panel_exprs("loki")
    assert {title for _, title, _ in exprs} >= {"Log lines by level", "Errors and warnings"}
    for name, title, expr in exprs:
        selectors = re.findall(r"\{([^}]*)\}", expr.replace("{{level}}", ""))
        assert selectors, f"{name} / {title}: no stream selector"
        for selector in selectors:
            labels = set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", selector))
            assert labels and labels <= PROMTAIL_LABELS, f"{name} / {title}: {labels - PROMTAIL_LABELS}"
            assert 'service=~"dyocense-' in selector, f"{name} / {title}: not the app's logs"


def test_every_panel_query_parses(tmp_path):
    exprs = panel_exprs()
    assert len(exprs) >= 40
    result = promtool_check_rules(tmp_path, [substitute_grafana_variables(expr) for _, _, expr in exprs])
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in result.stdout


def test_the_panel_parse_check_catches_a_broken_query(tmp_path):
    result = promtool_check_rules(tmp_path, ["sum(rate(http_requests_total[5m])"])
    assert result.returncode != 0


def test_every_panel_query_uses_only_contract_metrics():
    problems = [
        f"{name} / {title}: {problem}"
        for name, title, expr in panel_exprs()
        for problem in check_expression_uses_contract(expr)
    ]
    assert problems == []


def test_the_contract_check_catches_unknown_metrics_and_labels():
    assert check_expression_uses_contract("rate(http_requests_total[5m])") == []
    assert check_expression_uses_contract("rate(http_request_total[5m])")  # typo in the name
    assert check_expression_uses_contract('rate(http_requests_total{tenant_id="x"}[5m])')
    assert check_expression_uses_contract("sum by (tenant_id) (rate(llm_cost_dollars_total[5m]))")
    assert check_expression_uses_contract("llm_cost_dollars")  # counters are exposed with _total


def test_every_contract_metric_is_on_a_dashboard():
    used = {
        name
        for _, _, expr in panel_exprs()
        for name, _ in promql_selectors(substitute_grafana_variables(expr))
    }
    families = {f"{c}_total" for c in APP_COUNTERS} | set(APP_GAUGES)
    missing = {f for f in families if f not in used}
    missing |= {h for h in APP_HISTOGRAMS if not {f"{h}_bucket", f"{h}_sum", f"{h}_count"} & used}
    assert missing == set()


def test_dashboard_variables_query_known_metrics():
    for name, dashboard in dashboards().items():
        for variable in dashboard["templating"]["list"]:
            match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", variable["definition"])
            assert match, f"{name}: unexpected variable query {variable['definition']!r}"
            assert check_expression_uses_contract(match.group(1)) == [], variable["definition"]
            metric = promql_selectors(match.group(1))[0][0]
            assert match.group(2) in ALLOWED_METRICS[metric]


def test_readme_documents_the_whole_metric_contract():
    readme = (INFRA / "README.md").read_text()
    for name in [f"{c}_total" for c in APP_COUNTERS] + list(APP_HISTOGRAMS) + list(APP_GAUGES):
        row = re.search(rf"^\| `{name}` \|.*$", readme, re.M)
        assert row, f"{name} missing from the metric contract table"
        labels = (
            APP_COUNTERS.get(name.removesuffix("_total")) or APP_HISTOGRAMS.get(name) or APP_GAUGES.get(name)
        ) or set()
        for label in labels:
            assert f"`{label}`" in row.group(0), f"{name}: label {label} not documented"
    for key in sorted(REQUEST_LOG_KEYS):
        assert f"`{key}`" in readme


def test_datasources_link_logs_to_traces():
    datasources = {ds["type"]: ds for ds in load_yaml(DATASOURCES_FILE)["datasources"]}
    assert {"prometheus", "loki", "jaeger"} <= set(datasources)
    derived = datasources["loki"]["jsonData"]["derivedFields"][0]
    assert derived["datasourceUid"] == datasources["jaeger"]["uid"]
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    log_line = json.dumps({"event": "request", "level": "info", "trace_id": trace_id, "route": "/api/health"})
    assert re.search(derived["matcherRegex"], log_line).group(1) == trace_id
    assert datasources["jaeger"]["jsonData"]["tracesToLogsV2"]["datasourceUid"] == datasources["loki"]["uid"]
    provider = load_yaml(INFRA / "grafana" / "provisioning" / "dashboards" / "dyocense.yml")["providers"][0]
    mounts = load_yaml(COMPOSE_FILE)["services"]["grafana"]["volumes"]
    assert f"./infra/grafana/dashboards:{provider['options']['path']}:ro" in mounts
    assert "$__env{GRAFANA_ADMIN_PASSWORD}" in (INFRA / "grafana" / "grafana.ini").read_text()


# --------------------------------------------------------------------------- logs and traces
def _pipeline_stages(stages: list[dict]):
    for stage in stages:
        yield stage
        if "match" in stage:
            yield from _pipeline_stages(stage["match"].get("stages", []))


def test_promtail_never_labels_a_tenant():
    config = load_yaml(PROMTAIL_FILE)
    labels: set[str] = set()
    for scrape in config["scrape_configs"]:
        labels |= {relabel.get("target_label", "") for relabel in scrape.get("relabel_configs", [])}
        for static in scrape.get("static_configs", []):
            labels |= set(static.get("labels", {}))
        for stage in _pipeline_stages(scrape.get("pipeline_stages", [])):
            for kind in ("labels", "structured_metadata", "static_labels"):
                labels |= set(stage.get(kind) or {})
            if "labels" in stage.get("json", {}):
                labels |= set(stage["json"]["labels"])
    assert {"level", "route", "service"} <= labels
    assert not {label for label in labels if "tenant" in label.lower() or "user" in label.lower()}


def test_promtail_parses_the_log_contract():
    config = load_yaml(PROMTAIL_FILE)
    stages = list(_pipeline_stages(config["scrape_configs"][0]["pipeline_stages"]))
    json_stage = next(stage["json"] for stage in stages if "json" in stage)
    assert set(json_stage["expressions"].values()) <= REQUEST_LOG_KEYS
    assert config["clients"][0]["url"] == "http://loki:3100/loki/api/v1/push"


def test_loki_stores_with_retention_and_structured_metadata():
    config = load_yaml(INFRA / "loki" / "loki.yml")
    schema = config["schema_config"]["configs"][-1]
    assert (schema["store"], schema["schema"]) == ("tsdb", "v13")
    assert config["limits_config"]["allow_structured_metadata"] is True
    assert config["compactor"]["retention_enabled"] is True


def test_otel_collector_pipeline_is_wired():
    config = load_yaml(INFRA / "otel" / "otel-collector.yml")
    pipeline = config["service"]["pipelines"]["traces"]
    for kind in ("receivers", "processors", "exporters"):
        assert set(pipeline[kind]) <= set(config[kind]), kind
    assert pipeline["processors"][0] == "memory_limiter"
    assert set(config["receivers"]["otlp"]["protocols"]) == {"grpc", "http"}
    endpoint = REPO.joinpath("infra/env.compose.example").read_text()
    assert "OTEL_EXPORTER_OTLP_ENDPOINT=http://otel-collector:4318" in endpoint


# --------------------------------------------------------------------------- nginx
def _self_signed_certificate(directory: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dyocense.test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "fullchain.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (directory / "privkey.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


@pytest.mark.parametrize("site", ["http", "tls"])
def test_nginx_accepts_the_proxy_config(tmp_path, site):
    # Lay the files out as compose mounts them in /etc/nginx; the production files are unchanged.
    shutil.copy(NGINX_DIR / "nginx.conf", tmp_path / "nginx.conf")
    shutil.copytree(NGINX_DIR / "snippets", tmp_path / "snippets")
    (tmp_path / "conf.d").mkdir()
    shutil.copy(NGINX_DIR / "sites" / f"{site}.conf", tmp_path / "conf.d" / "default.conf")
    _self_signed_certificate(tmp_path / "certs")
    result = run(
        [tool("nginx"), "-t", "-p", f"{tmp_path}/", "-c", str(tmp_path / "nginx.conf"), "-e", "stderr"]
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def _location(name: str) -> str:
    text = (NGINX_DIR / "snippets" / "dyocense-locations.conf").read_text()
    match = re.search(rf"location {re.escape(name)} \{{(.*?)\n\}}", text, re.S)
    assert match, name
    return match.group(1)


def test_nginx_streams_the_chat_and_limits_uploads_like_the_api():
    stream = _location("= /api/v1/coach/chat/stream")
    assert re.search(r"^\s*proxy_buffering off;", stream, re.M)
    assert re.search(r"^\s*gzip off;", stream, re.M)
    assert int(re.search(r"proxy_read_timeout (\d+)s;", stream).group(1)) >= 300
    assert "add_header" not in stream  # would drop the server's security headers
    limit = re.search(r"^\s*client_max_body_size (\d+)m;", (NGINX_DIR / "nginx.conf").read_text(), re.M)
    assert limit and int(limit.group(1)) == 25
    app_limit = re.search(r"^MAX_REQUEST_BODY_BYTES=(\d+)$", ENV_EXAMPLE.read_text(), re.M)
    assert app_limit and int(app_limit.group(1)) == int(limit.group(1)) * 1024 * 1024
    assert "return 404" in _location("= /metrics")
    assert "proxy_pass http://$dyocense_backend;" in _location("/")


# --------------------------------------------------------------------------- postgres init
@pytest.fixture
def fake_psql(tmp_path) -> Path:
    """A stand-in psql that records its arguments and its SQL, one file per call."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "psql"
    script.write_text(
        "#!/usr/bin/env bash\n"
        'n=$(find "$PSQL_LOG" -name "*.args" | wc -l)\n'
        'printf "%s\\n" "$@" > "$PSQL_LOG/$n.args"\n'
        'cat > "$PSQL_LOG/$n.sql"\n'
    )
    script.chmod(0o755)
    (tmp_path / "log").mkdir()
    return tmp_path


def run_init(fake_psql: Path, **overrides: str) -> subprocess.CompletedProcess:
    env = {
        "PATH": f"{fake_psql / 'bin'}:{os.environ['PATH']}",
        "PSQL_LOG": str(fake_psql / "log"),
        "POSTGRES_USER": "postgres",
        "DATABASE_OWNER_URL": "postgresql+asyncpg://dyocense_owner:ownerpw1@postgres:5432/dyocense",
        "DATABASE_URL": "postgresql+asyncpg://dyocense_app:apppw2@postgres:5432/dyocense",
        "DATABASE_APP_ROLE": "dyocense_app",
        "DATABASE_WORKER_URL": "postgresql+asyncpg://dyocense_worker:workerpw4@postgres:5432/dyocense",
        "DATABASE_WORKER_ROLE": "dyocense_worker",
        "DATA_SOURCE_NAME": "postgresql://dyocense_monitor:monpw3@postgres:5432/dyocense?sslmode=disable",
        **overrides,
    }
    return run(["bash", str(POSTGRES_INIT)], env=env)


def test_postgres_init_creates_the_roles_and_extensions(fake_psql):
    result = run_init(fake_psql)
    assert result.returncode == 0, result.stderr
    log = fake_psql / "log"
    roles_args, roles_sql = (log / "0.args").read_text().split("\n"), (log / "0.sql").read_text()
    for variable in (
        "owner=dyocense_owner",
        "owner_password=ownerpw1",
        "app=dyocense_app",
        "app_password=apppw2",
        "worker=dyocense_worker",
        "worker_password=workerpw4",
        "monitor=dyocense_monitor",
        "monitor_password=monpw3",
        "db=dyocense",
    ):
        assert variable in roles_args
    assert "ON_ERROR_STOP=1" in roles_args
    for secret in ("ownerpw1", "apppw2", "workerpw4", "monpw3"):
        assert secret not in roles_sql  # passwords travel as psql variables, never in the SQL text
    assert re.search(r'CREATE ROLE :"app" LOGIN NOSUPERUSER .*NOBYPASSRLS', roles_sql)
    assert re.search(r'CREATE ROLE :"worker" LOGIN NOSUPERUSER .*NOBYPASSRLS', roles_sql)
    assert 'GRANT CONNECT ON DATABASE :"db" TO :"app", :"worker", :"monitor";' in roles_sql
    assert 'CREATE DATABASE :"db" OWNER :"owner";' in roles_sql
    assert 'GRANT pg_monitor TO :"monitor";' in roles_sql
    extensions_args, extensions_sql = (log / "1.args").read_text().split("\n"), (log / "1.sql").read_text()
    assert "dyocense" in extensions_args
    assert "CREATE EXTENSION IF NOT EXISTS timescaledb;" in extensions_sql
    assert "CREATE EXTENSION IF NOT EXISTS vector;" in extensions_sql


@pytest.mark.parametrize(
    "overrides",
    [
        {
            "DATABASE_URL": "postgresql+asyncpg://dyocense_owner:ownerpw1@postgres:5432/dyocense"
        },  # app = owner
        {"DATABASE_APP_ROLE": "someone_else"},
        {
            "DATABASE_WORKER_URL": "postgresql+asyncpg://dyocense_app:apppw2@postgres:5432/dyocense"
        },  # worker = app
        {"DATABASE_WORKER_ROLE": "someone_else"},
        {"DATABASE_WORKER_URL": ""},
        {"DATABASE_URL": "postgresql+asyncpg://dyocense_app@postgres:5432/dyocense"},  # no password
        {"DATABASE_URL": "postgresql+asyncpg://dyocense_app:apppw2@postgres:5432/other"},
        {"DATA_SOURCE_NAME": ""},
    ],
)
def test_postgres_init_refuses_an_unsafe_or_broken_setup(fake_psql, overrides):
    result = run_init(fake_psql, **overrides)
    assert result.returncode != 0
    assert list((fake_psql / "log").iterdir()) == []  # refused before touching the database
