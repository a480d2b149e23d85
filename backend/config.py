"""Application settings: one ``Settings`` object, grouped, read once at startup.

Every group reads flat environment variable names (``DATABASE_URL``, ``SECRET_KEY``, …)
so the names in ``.env.external.example`` and the developer guide work unchanged.
Values also come from a ``.env`` file in the working directory when present.
"""

from __future__ import annotations

import os
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# The development secret is public (it is in this file); production refuses it.
DEVELOPMENT_SECRET_KEY = "dev-insecure-secret-key-change-me-0000000000000000"  # noqa: S105


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


def _group_config() -> SettingsConfigDict:
    return SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)


class DatabasePooler(StrEnum):
    """What stands between the app and PostgreSQL."""

    NONE = "none"
    PGBOUNCER_TRANSACTION = "pgbouncer-transaction"


class DatabaseSettings(BaseSettings):
    """Where PostgreSQL is. With no ``DATABASE_URL``, the embedded server is used."""

    model_config = _group_config()

    url: SecretStr | None = Field(
        default=None,
        validation_alias="DATABASE_URL",
        description="Application-role URL (postgresql+asyncpg://…). Unset: embedded PostgreSQL.",
    )
    owner_url: SecretStr | None = Field(
        default=None,
        validation_alias="DATABASE_OWNER_URL",
        description="Owner-role URL used by Alembic migrations. Required with DATABASE_URL.",
    )
    worker_url: SecretStr | None = Field(
        default=None,
        validation_alias="DATABASE_WORKER_URL",
        description="Worker-role URL for job workers and the connector scheduler (the only role that "
        "reads every tenant's queue rows). Required by `backend.worker` with DATABASE_URL.",
    )
    app_role: str = Field(
        default="dyocense_app",
        validation_alias="DATABASE_APP_ROLE",
        description="Name of the application role that migrations grant DML to.",
    )
    worker_role: str = Field(
        default="dyocense_worker",
        validation_alias="DATABASE_WORKER_ROLE",
        description="Name of the worker role that migrations grant the job queue to.",
    )
    pool_size: int = Field(default=10, ge=1, validation_alias="DATABASE_POOL_SIZE")
    max_overflow: int = Field(default=10, ge=0, validation_alias="DATABASE_MAX_OVERFLOW")
    pool_timeout_seconds: float = Field(default=10.0, gt=0, validation_alias="DATABASE_POOL_TIMEOUT")
    statement_timeout_ms: int = Field(default=30_000, ge=0, validation_alias="DATABASE_STATEMENT_TIMEOUT_MS")
    connect_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        validation_alias="DATABASE_CONNECT_TIMEOUT",
        description="Give up opening a connection after this long (the request answers 503).",
    )
    echo: bool = Field(default=False, validation_alias="DATABASE_ECHO")
    pooler: DatabasePooler = Field(
        default=DatabasePooler.NONE,
        validation_alias="DATABASE_POOLER",
        description="`pgbouncer-transaction`: DATABASE_URL reaches PostgreSQL through PgBouncer in "
        "transaction mode, so no prepared statement outlives its transaction (asyncpg's and SQLAlchemy's "
        "statement caches off, unique statement names) and the connection carries no startup settings "
        "(PgBouncer refuses them): set statement_timeout and jit=off in PgBouncer's connect_query.",
    )

    metrics_retention_days: int = Field(
        default=0,
        ge=0,
        validation_alias="METRICS_RETENTION_DAYS",
        description="TimescaleDB only: drop metric chunks older than this (0 keeps everything). "
        "Applied by `python -m backend.cli metrics-retention`.",
    )

    embedded_port: int = Field(default=54329, ge=1024, le=65535, validation_alias="EMBEDDED_PG_PORT")
    embedded_data_dir: Path = Field(default=PROJECT_ROOT / ".data", validation_alias="EMBEDDED_PG_DATA_DIR")
    embedded_database: str = Field(default="dyocense", validation_alias="EMBEDDED_PG_DATABASE")

    @property
    def uses_embedded(self) -> bool:
        return self.url is None

    @model_validator(mode="after")
    def _owner_url_goes_with_url(self) -> DatabaseSettings:
        if (self.url is None) != (self.owner_url is None):
            raise ValueError("DATABASE_URL and DATABASE_OWNER_URL must be set together (or neither)")
        if self.worker_url is not None and self.url is None:
            raise ValueError(
                "DATABASE_WORKER_URL goes with DATABASE_URL (the embedded default makes its own)"
            )
        return self


class AuthSettings(BaseSettings):
    model_config = _group_config()

    secret_key: SecretStr = Field(default=SecretStr(DEVELOPMENT_SECRET_KEY), validation_alias="SECRET_KEY")
    algorithm: str = Field(default="HS256", validation_alias="JWT_ALGORITHM")
    issuer: str = Field(default="dyocense", validation_alias="JWT_ISSUER")
    audience: str = Field(default="dyocense-api", validation_alias="JWT_AUDIENCE")
    access_token_minutes: int = Field(default=15, ge=1, le=120, validation_alias="ACCESS_TOKEN_MINUTES")
    stream_ticket_seconds: int = Field(
        default=60,
        ge=5,
        le=600,
        validation_alias="STREAM_TICKET_SECONDS",
        description="Lifetime of a coach stream ticket (a browser EventSource puts it in the URL).",
    )
    refresh_token_days: int = Field(default=14, ge=1, le=90, validation_alias="REFRESH_TOKEN_DAYS")
    activation_token_hours: int = Field(default=72, ge=1, validation_alias="ACTIVATION_TOKEN_HOURS")
    signup_enabled: bool = Field(default=True, validation_alias="SIGNUP_ENABLED")
    signup_per_ip_per_hour: int = Field(default=20, ge=1, validation_alias="SIGNUP_RATE_LIMIT_PER_HOUR")
    login_per_account_per_15min: int = Field(
        default=10,
        ge=1,
        validation_alias="LOGIN_RATE_LIMIT_PER_ACCOUNT",
        description="Failed sign-ins of one account (from all addresses) per 15 minutes after which "
        "every further failure, from any address, backs off at once. Never blocks the account.",
    )
    login_per_ip_per_15min: int = Field(default=50, ge=1, validation_alias="LOGIN_RATE_LIMIT_PER_IP")
    login_free_failures: int = Field(
        default=5,
        ge=0,
        validation_alias="LOGIN_FREE_FAILURES",
        description="Failed sign-ins of one account from one address before that pair backs off.",
    )
    login_backoff_base_seconds: int = Field(default=5, ge=1, validation_alias="LOGIN_BACKOFF_BASE_SECONDS")
    login_backoff_max_seconds: int = Field(default=900, ge=1, validation_alias="LOGIN_BACKOFF_MAX_SECONDS")
    credential_guesses_per_ip_per_15min: int = Field(
        default=30,
        ge=1,
        validation_alias="CREDENTIAL_GUESS_LIMIT_PER_IP",
        description="Unknown refresh tokens, API keys and activation tokens one address may present "
        "per 15 minutes (only failures count).",
    )
    min_password_length: int = Field(default=10, ge=8, validation_alias="MIN_PASSWORD_LENGTH")
    password_reset_token_minutes: int = Field(
        default=60,
        ge=1,
        le=24 * 60,
        validation_alias="PASSWORD_RESET_TOKEN_MINUTES",
        description="Lifetime of a password-reset link (one use; a newer request replaces it).",
    )
    password_reset_per_ip_per_hour: int = Field(
        default=20, ge=1, validation_alias="PASSWORD_RESET_RATE_LIMIT_PER_IP"
    )
    password_reset_per_email_per_hour: int = Field(
        default=5,
        ge=1,
        validation_alias="PASSWORD_RESET_RATE_LIMIT_PER_EMAIL",
        description="Reset requests for one email per hour, whether or not an account uses it.",
    )


class ObservabilitySettings(BaseSettings):
    model_config = _group_config()

    enable_prometheus: bool = Field(default=True, validation_alias="ENABLE_PROMETHEUS")
    enable_tracing: bool = Field(default=False, validation_alias="ENABLE_TRACING")
    otlp_endpoint: str | None = Field(default=None, validation_alias="OTEL_EXPORTER_OTLP_ENDPOINT")
    service_name: str = Field(default="dyocense-backend", validation_alias="OTEL_SERVICE_NAME")
    log_level: str = Field(default="INFO", validation_alias="LOG_LEVEL")
    log_json: bool | None = Field(
        default=None,
        validation_alias="LOG_JSON",
        description="JSON log lines; unset means console text in development, JSON elsewhere.",
    )


class JobSettings(BaseSettings):
    """Background jobs (procrastinate, jobs in PostgreSQL) and the worker process."""

    model_config = _group_config()

    worker_metrics_port: int = Field(default=8002, ge=1, le=65535, validation_alias="WORKER_METRICS_PORT")
    worker_metrics_host: str | None = Field(
        default=None,
        validation_alias="WORKER_METRICS_HOST",
        description="Address the worker's metrics server binds; unset means 127.0.0.1 in "
        "development and test, 0.0.0.0 (scraped from other hosts) otherwise.",
    )
    ready_requires_worker: bool = Field(
        default=False,
        validation_alias="READY_REQUIRES_WORKER",
        description="/api/ready answers 503 while no worker has a recent heartbeat (off: it "
        "reports the workers but stays ready, since an API can serve without them).",
    )
    worker_concurrency: int = Field(default=4, ge=1, le=64, validation_alias="WORKER_CONCURRENCY")
    worker_queues: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias="WORKER_QUEUES",
        description="Comma-separated queues this worker serves; empty means all.",
    )
    retry_base_seconds: float = Field(
        default=5.0,
        ge=0,
        validation_alias="JOB_RETRY_BASE_SECONDS",
        description="Wait before a failed job's first retry; doubles with each further attempt.",
    )
    stalled_worker_seconds: float = Field(
        default=60.0,
        gt=0,
        validation_alias="JOB_STALLED_WORKER_SECONDS",
        description="A worker silent (no heartbeat) this long is presumed dead; its jobs are retried.",
    )
    keep_finished_hours: int = Field(
        default=168,
        ge=1,
        validation_alias="JOB_KEEP_FINISHED_HOURS",
        description="The queue's rows of jobs that ended this long ago are deleted (hourly); the "
        "job status tenants poll is kept.",
    )

    @field_validator("worker_queues", mode="before")
    @classmethod
    def _split_queues(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [queue.strip() for queue in value.split(",") if queue.strip()]
        return value


class MailSettings(BaseSettings):
    """Outgoing email over SMTP. With no ``SMTP_HOST`` nothing is sent: account emails are
    logged as pending (email domain only) and, outside production, activation tokens come
    back in the API response instead."""

    model_config = _group_config()

    smtp_host: str | None = Field(
        default=None, validation_alias="SMTP_HOST", description="Unset: no mail transport."
    )
    smtp_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        validation_alias="SMTP_PORT",
        description="Unset: 465 with SMTP_SSL, 587 with SMTP_STARTTLS, else 25.",
    )
    smtp_username: str | None = Field(default=None, validation_alias="SMTP_USERNAME")
    smtp_password: SecretStr | None = Field(default=None, validation_alias="SMTP_PASSWORD")
    smtp_starttls: bool = Field(
        default=False,
        validation_alias="SMTP_STARTTLS",
        description="Upgrade the connection with STARTTLS (and refuse to send if the server cannot).",
    )
    smtp_ssl: bool = Field(
        default=False, validation_alias="SMTP_SSL", description="Implicit TLS from the first byte."
    )
    smtp_timeout_seconds: float = Field(default=30.0, gt=0, validation_alias="SMTP_TIMEOUT_SECONDS")
    from_address: str = Field(
        default="Dyocense <no-reply@localhost>",
        validation_alias="MAIL_FROM",
        description="The From header (and envelope sender), e.g. 'Dyocense <no-reply@example.com>'.",
    )
    public_app_url: str = Field(
        default="http://localhost:3000",
        validation_alias="PUBLIC_APP_URL",
        description="Base URL of the web app that links in emails open "
        "(/activate?token=…, /reset-password?token=…).",
    )
    public_api_url: str = Field(
        default="http://localhost:8001",
        validation_alias="PUBLIC_API_URL",
        description="Base URL of this API as email readers reach it: a digest's one-click unsubscribe "
        "link is PUBLIC_API_URL/api/v1/insights/digest/unsubscribe?token=….",
    )
    max_attempts: int = Field(
        default=5,
        ge=1,
        le=20,
        validation_alias="MAIL_MAX_ATTEMPTS",
        description="Tries of one email on transient SMTP errors (waits double from JOB_RETRY_BASE_SECONDS); "
        "a refused recipient is never retried.",
    )

    @property
    def configured(self) -> bool:
        return bool(self.smtp_host)

    @property
    def port(self) -> int:
        if self.smtp_port is not None:
            return self.smtp_port
        return 465 if self.smtp_ssl else 587 if self.smtp_starttls else 25

    @model_validator(mode="after")
    def _consistent_transport(self) -> MailSettings:
        if self.smtp_ssl and self.smtp_starttls:
            raise ValueError("SMTP_SSL and SMTP_STARTTLS exclude each other: pick one")
        if (self.smtp_username is None) != (self.smtp_password is None):
            raise ValueError("SMTP_USERNAME and SMTP_PASSWORD go together")
        return self


def _cpu_count() -> int:
    return os.cpu_count() or 1


class ComputeSettings(BaseSettings):
    """The CPU executor: the pool of worker processes every CPU-heavy request and job runs in."""

    model_config = _group_config()

    workers: int = Field(
        default_factory=_cpu_count,
        ge=1,
        validation_alias="COMPUTE_WORKERS",
        description="Worker processes of the CPU executor, in each API process and each job worker "
        "(forecasts, solvers, statistics; one BLAS thread each); unset means one per CPU core.",
    )


class ConnectorSettings(BaseSettings):
    """Data connectors: credential encryption keys and outbound HTTP behaviour; benchmark imports."""

    model_config = _group_config()

    @field_validator("benchmark_admin_tenants", mode="before")
    @classmethod
    def _split_tenants(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [tenant.strip() for tenant in value.split(",") if tenant.strip()]
        return value

    encryption_keys: SecretStr | None = Field(
        default=None,
        validation_alias="CONNECTOR_ENCRYPTION_KEYS",
        description=(
            "Comma-separated base64 AES-256 keys (32 bytes each); the first encrypts, all decrypt "
            "(rotation). Unset: a development key derived from SECRET_KEY (refused in production)."
        ),
    )
    http_timeout_seconds: float = Field(default=30.0, gt=0, validation_alias="CONNECTOR_HTTP_TIMEOUT")
    http_max_retries: int = Field(default=4, ge=0, le=10, validation_alias="CONNECTOR_HTTP_MAX_RETRIES")
    http_backoff_base_seconds: float = Field(
        default=0.5, ge=0, validation_alias="CONNECTOR_HTTP_BACKOFF_BASE"
    )
    http_backoff_max_seconds: float = Field(default=30.0, ge=0, validation_alias="CONNECTOR_HTTP_BACKOFF_MAX")
    http_retry_after_max_seconds: float = Field(
        default=120.0, ge=0, validation_alias="CONNECTOR_HTTP_RETRY_AFTER_MAX"
    )
    max_pages: int = Field(default=10_000, ge=1, validation_alias="CONNECTOR_MAX_PAGES")
    sync_max_attempts: int = Field(default=3, ge=1, le=20, validation_alias="CONNECTOR_SYNC_MAX_ATTEMPTS")
    postgres_statement_timeout_ms: int = Field(
        default=60_000, ge=100, validation_alias="CONNECTOR_PG_STATEMENT_TIMEOUT_MS"
    )
    benchmark_admin_tenants: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias="BENCHMARK_ADMIN_TENANTS",
        description=(
            "Comma-separated tenant ids whose owners/admins may import external benchmarks (global data). "
            "Empty: any tenant's owner/admin outside production; nobody in production."
        ),
    )
    allow_private_networks: bool = Field(
        default=False,
        validation_alias="CONNECTOR_ALLOW_PRIVATE_NETWORKS",
        description=(
            "Let connectors and alert webhooks reach loopback/private addresses "
            "(off: no SSRF into your network)."
        ),
    )


class EmbeddingProvider(StrEnum):
    LOCAL = "local"
    OLLAMA = "ollama"
    OPENAI = "openai"


class ModelPrice(BaseModel):
    """List price of one model in dollars per million tokens (configurable; check your provider's page)."""

    input_per_million: float = Field(ge=0)
    output_per_million: float = Field(default=0.0, ge=0)


# Published OpenAI list prices (USD per 1M tokens) at the time of writing. They are defaults
# for cost accounting only, not measurements: override them with LLM_PRICES for your contract,
# and add an entry for any other cloud model you configure. Local providers cost nothing.
DEFAULT_LLM_PRICES: dict[str, ModelPrice] = {
    "gpt-4o-mini": ModelPrice(input_per_million=0.15, output_per_million=0.60),
    "gpt-4o": ModelPrice(input_per_million=2.50, output_per_million=10.00),
    "gpt-4.1-mini": ModelPrice(input_per_million=0.40, output_per_million=1.60),
    "gpt-4.1": ModelPrice(input_per_million=2.00, output_per_million=8.00),
    "text-embedding-3-small": ModelPrice(input_per_million=0.02),
    "text-embedding-3-large": ModelPrice(input_per_million=0.13),
}


class LlmSettings(BaseSettings):
    """The coach's language models: local (Ollama), cloud (OpenAI-compatible), budget and embeddings.

    With neither a local nor a cloud model configured, the coach uses its offline provider,
    which fills labelled templates from tool results instead of generating text.
    """

    model_config = _group_config()

    enable_local: bool = Field(default=False, validation_alias="ENABLE_LOCAL_LLM")
    local_url: str = Field(default="http://localhost:11434", validation_alias="LOCAL_LLM_URL")
    local_model: str = Field(default="llama3.1:8b", validation_alias="LOCAL_LLM_MODEL")
    openai_api_key: SecretStr | None = Field(default=None, validation_alias="OPENAI_API_KEY")
    openai_base_url: str = Field(
        default="https://api.openai.com/v1",
        validation_alias="OPENAI_BASE_URL",
        description="Base URL including the API version; '/chat/completions' and '/embeddings' are appended.",
    )
    openai_model: str = Field(default="gpt-4o-mini", validation_alias="OPENAI_MODEL")
    timeout_seconds: float = Field(default=60.0, gt=0, validation_alias="LLM_TIMEOUT_SECONDS")
    stream_heartbeat_seconds: float = Field(
        default=10.0,
        gt=0,
        le=300,
        validation_alias="COACH_STREAM_HEARTBEAT_SECONDS",
        description="A `: ping` comment goes out on a coach stream this often, so proxies keep it open.",
    )
    target_local_share: float = Field(default=0.7, ge=0, le=1, validation_alias="LLM_TARGET_LOCAL_SHARE")
    monthly_budget_dollars: float = Field(
        default=25.0,
        ge=0,
        validation_alias="LLM_MONTHLY_BUDGET_DOLLARS",
        description="Default cloud budget per tenant per calendar month; tenants.settings "
        "'llm_monthly_budget_dollars' overrides it for one tenant.",
    )
    deployment_monthly_budget_dollars: float = Field(
        default=0.0,
        ge=0,
        validation_alias="LLM_DEPLOYMENT_MONTHLY_BUDGET_DOLLARS",
        description="Whole-deployment budget exported as llm_monthly_budget_dollars for alerts (0 = none).",
    )
    circuit_failure_threshold: int = Field(default=3, ge=1, validation_alias="LLM_CIRCUIT_FAILURE_THRESHOLD")
    circuit_reset_seconds: float = Field(default=30.0, gt=0, validation_alias="LLM_CIRCUIT_RESET_SECONDS")
    prices: dict[str, ModelPrice] = Field(
        default_factory=lambda: dict(DEFAULT_LLM_PRICES), validation_alias="LLM_PRICES"
    )

    embedding_provider: EmbeddingProvider = Field(
        default=EmbeddingProvider.LOCAL, validation_alias="EMBEDDING_PROVIDER"
    )
    embedding_model: str = Field(
        default="all-MiniLM-L6-v2",
        validation_alias="EMBEDDING_MODEL",
        description="local: 'all-MiniLM-L6-v2' (bundled) or a sentence-transformers directory; "
        "ollama/openai: the provider's embedding model name.",
    )
    embedding_dimensions: int = Field(default=384, ge=1, validation_alias="EMBEDDING_DIMENSIONS")
    recall_min_similarity: float = Field(
        default=0.43,
        ge=-1,
        le=1,
        validation_alias="COACH_RECALL_MIN_SIMILARITY",
        description="Cosine similarity an earlier message needs to be recalled into a chat. The default "
        "is calibrated for the bundled all-MiniLM-L6-v2 (best F1 on tests/data/memory_relevance.json); "
        "recalibrate with `python -m tests.benchmarks.bench_memory_relevance` for another embedding model.",
    )

    @field_validator("prices", mode="after")
    @classmethod
    def _prices_extend_defaults(cls, value: dict[str, ModelPrice]) -> dict[str, ModelPrice]:
        # LLM_PRICES adds or overrides entries; the documented defaults stay for other models.
        return {**DEFAULT_LLM_PRICES, **value}

    @property
    def cloud_configured(self) -> bool:
        return self.openai_api_key is not None and bool(self.openai_api_key.get_secret_value())

    @model_validator(mode="after")
    def _cloud_models_have_prices(self) -> LlmSettings:
        missing = []
        if self.cloud_configured and self.openai_model not in self.prices:
            missing.append(self.openai_model)
        if self.embedding_provider is EmbeddingProvider.OPENAI and self.embedding_model not in self.prices:
            missing.append(self.embedding_model)
        if missing:
            raise ValueError(
                f"LLM_PRICES has no price for {', '.join(missing)}: add it so cloud spend can be "
                "counted against the budget"
            )
        if self.embedding_provider is EmbeddingProvider.OPENAI and not self.cloud_configured:
            raise ValueError("EMBEDDING_PROVIDER=openai needs OPENAI_API_KEY")
        return self


class Settings(BaseSettings):
    """All settings. Build with ``get_settings()`` in the app; tests pass overrides."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    environment: Environment = Field(default=Environment.DEVELOPMENT, validation_alias="ENVIRONMENT")
    app_name: str = Field(default="Dyocense", validation_alias="APP_NAME")
    version: str = "4.0.0"
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http://localhost:3000", "http://localhost:8001"],
        validation_alias="CORS_ORIGINS",
    )
    trust_forwarded_for: bool = Field(
        default=False,
        validation_alias="TRUST_FORWARDED_FOR",
        description="Take the client IP from X-Forwarded-For (only behind a trusted proxy).",
    )
    forwarded_allow_ips: str = Field(
        default="127.0.0.1,::1",
        validation_alias="FORWARDED_ALLOW_IPS",
        description="With TRUST_FORWARDED_FOR: the proxy addresses/networks whose X-Forwarded-For "
        "the server (python -m backend.server) believes. Ignored when trust is off.",
    )
    max_request_body_bytes: int = Field(default=25 * 1024 * 1024, validation_alias="MAX_REQUEST_BODY_BYTES")
    tenant_writes_in_flight: int = Field(
        default=4,
        ge=1,
        le=64,
        validation_alias="TENANT_WRITES_IN_FLIGHT",
        description="Per API process, how many of one tenant's metric batches (POST /api/v1/metrics) "
        "run at once; the rest wait their turn, so one tenant's bulk writes do not hold up others.",
    )

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)
    llm: LlmSettings = Field(default_factory=LlmSettings)
    jobs: JobSettings = Field(default_factory=JobSettings)
    compute: ComputeSettings = Field(default_factory=ComputeSettings)
    connectors: ConnectorSettings = Field(default_factory=ConnectorSettings)
    mail: MailSettings = Field(default_factory=MailSettings)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @property
    def is_production(self) -> bool:
        return self.environment is Environment.PRODUCTION

    @property
    def worker_metrics_host(self) -> str:
        if self.jobs.worker_metrics_host:
            return self.jobs.worker_metrics_host
        local = self.environment in (Environment.DEVELOPMENT, Environment.TEST)
        return "127.0.0.1" if local else "0.0.0.0"  # noqa: S104 - scraped by Prometheus from another host

    @property
    def log_json(self) -> bool:
        if self.observability.log_json is not None:
            return self.observability.log_json
        return self.environment != Environment.DEVELOPMENT

    @model_validator(mode="after")
    def _refuse_unsafe_production_defaults(self) -> Settings:
        if not self.is_production:
            return self
        problems = []
        secret = self.auth.secret_key.get_secret_value()
        if secret == DEVELOPMENT_SECRET_KEY or len(secret) < 32:
            problems.append("SECRET_KEY must be set to a random value of at least 32 characters")
        if "*" in self.cors_origins:
            problems.append("CORS_ORIGINS must list origins explicitly, not '*'")
        if self.database.uses_embedded:
            problems.append("DATABASE_URL must point at a managed PostgreSQL in production")
        if self.connectors.encryption_keys is None:
            problems.append(
                "CONNECTOR_ENCRYPTION_KEYS must be set (the development key is derived from SECRET_KEY)"
            )
        if self.mail.configured and "localhost" in self.mail.public_app_url:
            problems.append("PUBLIC_APP_URL must be the public address of the app: emails link to it")
        if problems:
            raise ValueError("unsafe production settings: " + "; ".join(problems))
        return self


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
