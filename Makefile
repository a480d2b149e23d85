# Dyocense backend — developer commands. Run `make help` for the list.
# Everything runs from a local virtualenv (.venv) on Python 3.11+; the database is the
# embedded PostgreSQL (under .data/) unless DATABASE_URL/DATABASE_OWNER_URL are set.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
PORT ?= 8001

export PYTHONPATH := $(CURDIR)
# One BLAS/OpenMP thread per process: statsmodels fits otherwise oversubscribe the cores.
export OPENBLAS_NUM_THREADS ?= 1
export OMP_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1

.DEFAULT_GOAL := help
.PHONY: help setup dev demo serve worker test ts-deps check hooks lint format migrate migrate-create migrate-rollback db-shell db-up db-down db-status bench bench-deps bench-m3 bench-insights bench-scale verify-monitoring

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-18s %s\n", $$1, $$2}'

# requirements-forecast.txt goes in with --no-deps: statsforecast declares pandas<3 (see its header).
$(VENV)/.installed: requirements-v4.txt requirements-forecast.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-v4.txt
	$(BIN)/pip install --quiet --no-deps -r requirements-forecast.txt
	@touch $@

setup: $(VENV)/.installed ## Create .venv and install pinned dependencies

db-up: setup ## Start (or attach to) the embedded PostgreSQL
	$(PY) -m backend.cli db up

db-down: setup ## Stop the embedded PostgreSQL
	$(PY) -m backend.cli db down

db-status: setup ## Is the embedded PostgreSQL running?
	$(PY) -m backend.cli db status

db-shell: db-up ## psql into the database (as the owner role)
	$(PY) -m backend.cli db shell

migrate: db-up ## Apply migrations (alembic upgrade head)
	$(PY) -m backend.cli migrate

migrate-create: db-up ## Draft a migration: make migrate-create m="add thing"
	@msg="$(m)"; if [ -z "$$msg" ]; then printf "Migration name: "; read msg; fi; \
	  $(PY) -m backend.cli migrate-create "$$msg"

migrate-rollback: db-up ## Roll back one migration
	$(PY) -m backend.cli migrate-rollback

# `make dev` runs the worker and the API side by side and stops both, loudly, when either one
# exits (bash for `wait -n`). The worker's metrics port follows PORT (PORT+1) unless
# WORKER_METRICS_PORT is given, so two `make dev` with different PORTs do not collide.
dev: SHELL := /bin/bash
dev: DEV_WORKER_METRICS_PORT = $(or $(WORKER_METRICS_PORT),$(shell echo $$(($(PORT) + 1))))
dev: migrate ## Run the API with reload on http://localhost:8001 and a job worker beside it (metrics on PORT+1)
	@WORKER_METRICS_PORT=$(DEV_WORKER_METRICS_PORT) $(PY) -m backend.worker & worker=$$!; \
	  trap 'kill $$worker $$api 2>/dev/null' EXIT; trap 'exit 130' INT TERM; \
	  $(PY) -m backend.server --reload --reload-dir backend --host 127.0.0.1 --port $(PORT) & api=$$!; \
	  wait -n $$worker $$api; status=$$?; \
	  if ! kill -0 $$worker 2>/dev/null; then \
	    printf '\n*** make dev: the job worker exited (status %s); stopping the API too. ***\n\n' "$$status" >&2; \
	    exit 1; \
	  fi; \
	  exit $$status

demo: setup ## Build the demo shop through the running API (`make dev` in another terminal); prints the sign-in
	$(PY) -m backend.cli demo --url http://127.0.0.1:$(PORT)

# `make serve` is how production runs the API: WORKERS uvicorn processes (one per core is the
# usual choice) behind uvicorn's supervisor, no reload, JSON log lines. Job workers run apart
# (`make worker`, as many as the queue needs). HOST=0.0.0.0 to listen beyond loopback.
WORKERS ?= 2
HOST ?= 127.0.0.1
serve: migrate ## Serve the API for production: WORKERS processes (default 2), no reload, JSON logs, on HOST:PORT
	LOG_JSON=true $(PY) -m backend.server --host $(HOST) --port $(PORT) --workers $(WORKERS)

worker: migrate ## Run a job worker alone (metrics on WORKER_METRICS_HOST:WORKER_METRICS_PORT, default 127.0.0.1:8002)
	$(PY) -m backend.worker

# Debian packages some tests run: promtool and Prometheus with its node and postgres exporters
# (monitoring checks), nginx (proxy config check), the netlib/MIPLIB sample files, and chromium
# (a real browser EventSource on the coach stream), pgbouncer (the scale-out test).
SYSTEM_PACKAGES := prometheus prometheus-node-exporter prometheus-postgres-exporter nginx pgbouncer coinor-libcoinutils-dev chromium nodejs npm

system-deps: ## Install the Debian packages the tests use, if any is missing (needs root)
	@if command -v promtool >/dev/null && command -v prometheus-node-exporter >/dev/null \
	    && command -v prometheus-postgres-exporter >/dev/null && PATH="$$PATH:/usr/sbin" command -v nginx >/dev/null \
	    && PATH="$$PATH:/usr/sbin" command -v pgbouncer >/dev/null \
	    && [ -d /usr/share/coin/Data/Sample ] && command -v chromium >/dev/null \
	    && command -v node >/dev/null && command -v npm >/dev/null; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  echo "installing: $(SYSTEM_PACKAGES)"; apt-get update -qq \
	  && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES) >/dev/null; \
	else echo "The tests need these Debian packages; install them as root: $(SYSTEM_PACKAGES)"; exit 1; fi

# The TypeScript contract check (tests/test_typescript_client.py) runs the pinned openapi-typescript
# and tsc from tests/typescript/node_modules, installed from its package-lock.json.
TS_DIR := tests/typescript
$(TS_DIR)/node_modules/.package-lock.json: $(TS_DIR)/package-lock.json
	npm ci --prefix $(TS_DIR) --no-audit --no-fund

ts-deps: $(TS_DIR)/node_modules/.package-lock.json ## Install the TypeScript contract check's npm packages (needs nodejs, npm)

test: setup system-deps ts-deps ## Run the test suite (starts the embedded PostgreSQL itself)
	$(BIN)/pytest

check: lint ## lint, then the fast tests (no slow statistics, no live servers or worker processes)
	$(BIN)/pytest -m "not slow and not live"

hooks: setup ## Install the git pre-commit hooks (ruff, ruff format, mypy on changed files)
	$(BIN)/pre-commit install

lint: setup ## ruff (lint + format check) and mypy
	$(BIN)/ruff check backend tests alembic
	$(BIN)/ruff format --check backend tests alembic
	$(BIN)/mypy

# The load benchmark drives `make serve`'s command with wrk (Debian package `wrk`).
bench-deps:
	@if command -v wrk >/dev/null; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  echo "installing: wrk"; apt-get update -qq \
	  && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null; \
	else echo "The load benchmark needs wrk; install it as root: apt-get install wrk"; exit 1; fi

bench: migrate bench-deps ## Benchmarks (JSON reports in .bench/): load (wrk), metrics API vs raw SQL, big uploads as jobs, optimizer, evidence
	$(PY) -m tests.benchmarks.bench_load
	$(PY) -m tests.benchmarks.bench_metrics
	$(PY) -m tests.benchmarks.bench_uploads
	$(PY) -m tests.benchmarks.bench_optimizer
	$(PY) -m tests.benchmarks.bench_evidence_lalonde
	$(PY) -m tests.benchmarks.bench_evidence_timeseries
	$(PY) -m tests.benchmarks.bench_evidence_units
	$(PY) -m tests.benchmarks.bench_coach
	$(PY) -m tests.benchmarks.bench_insights
	$(PY) -m tests.benchmarks.bench_scale_out

bench-insights: migrate ## Insight engine: recall/precision on planted events, false alarms on quiet data, seconds per tenant run
	$(PY) -m tests.benchmarks.bench_insights $(if $(SEEDS),--seeds $(SEEDS))

# Grows one database to each size (COPY) and measures there; ~15 min for the default 1M,10M on 2 cores.
bench-scale: migrate ## Cost as stored points grow (SIZES=1000000,10000000[,50000000]): rollups, ingest, noisy neighbour
	$(PY) -m tests.benchmarks.bench_scale_points $(if $(SIZES),--sizes $(SIZES))

# The peers are fitted in this venv too, and again in .bench/peer-venv (statsforecast with its own
# pandas 2): the two must agree (requirements-forecast.txt explains why). SAMPLE=300 for a subset.
bench-m3: setup ## Engine vs statsforecast AutoETS/AutoTheta/ETS+Theta on all 3,003 M3 series (~15 min on 2 cores)
	@test -x .bench/peer-venv/bin/python || { $(PYTHON) -m venv .bench/peer-venv \
	  && .bench/peer-venv/bin/pip install --quiet statsforecast==2.1.1; }
	$(PY) -m tests.benchmarks.bench_forecaster_m3 --workers 2 $(if $(SAMPLE),--sample $(SAMPLE))

verify-monitoring: setup ## App + worker + exporters + a real Prometheus: every dashboard query must return data
	$(BIN)/pytest tests/infra/test_monitoring_live.py -s -q -p no:cacheprovider

format: setup ## Apply ruff formatting and safe fixes
	$(BIN)/ruff format backend tests alembic
	$(BIN)/ruff check --fix backend tests alembic
